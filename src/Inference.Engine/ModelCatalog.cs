using System.Diagnostics.CodeAnalysis;
using Inference.Engine.Embeddings;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inference.Engine;

/// <summary>
/// The models this process can serve, by id. Building the catalogue reads only tokenizer vocabularies; each model's
/// ONNX Runtime session is created on its first run or by <see cref="WarmUpAsync"/>. Disposing the catalogue disposes
/// the sessions.
/// </summary>
public sealed class ModelCatalog : IDisposable
{
    private readonly Dictionary<string, IInferenceModel> _models;

    /// <exception cref="OptionsValidationException"><paramref name="options"/> are invalid.</exception>
    /// <exception cref="IOException">A packaged model file is missing or unreadable.</exception>
    public ModelCatalog(IOptions<EngineOptions> options, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var engineOptions = options.Value;
        // Validated here as well as at host start, so a catalogue built by hand cannot hold a nonsensical setting.
        var validation = new EngineOptionsValidator().Validate(Options.DefaultName, engineOptions);
        if (validation.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(EngineOptions), validation.Failures);
        }

        IInferenceModel[] models = [AllMiniLmL6V2.Create(engineOptions, loggerFactory)];
        _models = models.ToDictionary(model => model.Descriptor.Id, StringComparer.Ordinal);
        Models = [.. models.Select(model => model.Descriptor)];
    }

    /// <summary>Every model this process can serve, whether loaded or not.</summary>
    public IReadOnlyCollection<ModelDescriptor> Models { get; }

    /// <summary>Finds a model by its exact (lower-case) id.</summary>
    /// <remarks>Check <see cref="ModelDescriptor.Kind"/>, or test for e.g. <see cref="IEmbeddingModel"/>, before running it.</remarks>
    public bool TryGet(string id, [NotNullWhen(true)] out IInferenceModel? model) => _models.TryGetValue(id, out model);

    /// <summary>Loads every model now, so that no request pays for it; for roles that run models.</summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        foreach (var model in _models.Values)
        {
            await model.WarmUpAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        foreach (var model in _models.Values)
        {
            (model as IDisposable)?.Dispose();
        }
    }
}
