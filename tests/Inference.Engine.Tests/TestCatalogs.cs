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

    public static IEmbeddingModel MiniLmOf(ModelCatalog catalog)
    {
        Assert.True(catalog.TryGet(MiniLm, out var model));
        return Assert.IsAssignableFrom<IEmbeddingModel>(model);
    }
}
