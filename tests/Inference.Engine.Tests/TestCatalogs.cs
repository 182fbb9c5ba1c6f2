using Inference.Engine.Registry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Inference.Engine.Tests;

/// <summary>Catalogues built the way the host builds them, with settings a test can change.</summary>
internal static class TestCatalogs
{
    public const string MiniLm = "all-minilm-l6-v2";

    public static ModelCatalog Create(Action<EngineOptions>? configure = null)
    {
        var options = new EngineOptions();
        configure?.Invoke(options);
        return new ModelCatalog(Options.Create(options), NullLoggerFactory.Instance);
    }

    /// <summary>A catalogue of the registry entries <paramref name="models"/>.</summary>
    public static ModelCatalog Create(IEnumerable<ModelOptions> models, ILoggerFactory? loggerFactory = null)
    {
        var registry = new ModelRegistryOptions();
        foreach (var model in models)
        {
            registry.Models.Add(model);
        }

        return new ModelCatalog(Options.Create(new EngineOptions()), Options.Create(registry), loggerFactory ?? NullLoggerFactory.Instance);
    }

    /// <summary>The bundled MiniLM under an id of the test's own, so its metrics and queue are the test's alone.</summary>
    public static ModelOptions Bundled(string id, int maxBatchSize = 32, int maxBatchDelayMs = 2, string device = "cpu") => new()
    {
        Id = id,
        Task = "embedding",
        Path = ModelOptions.BundledMiniLm,
        MaxBatchSize = maxBatchSize,
        MaxBatchDelayMs = maxBatchDelayMs,
        Device = device,
    };

    public static IEmbeddingModel MiniLmOf(ModelCatalog catalog) => EmbeddingOf(catalog, MiniLm);

    public static IEmbeddingModel EmbeddingOf(ModelCatalog catalog, string id)
    {
        Assert.True(catalog.TryGet(id, out var model));
        return Assert.IsAssignableFrom<IEmbeddingModel>(model);
    }
}
