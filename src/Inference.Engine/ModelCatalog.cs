using System.Diagnostics.CodeAnalysis;
using Inference.Engine.Embeddings;
using Inference.Engine.Registry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inference.Engine;

/// <summary>
/// The models this process can serve, by id, as the <c>Models</c> section registers them (the bundled MiniLM alone when
/// it is empty). Building the catalogue reads only tokenizers; each model's ONNX Runtime session is created on its first
/// run or by <see cref="WarmUpAsync(CancellationToken)"/>. Disposing the catalogue disposes the sessions.
/// </summary>
public sealed class ModelCatalog : IDisposable
{
    private readonly Dictionary<string, Entry> _models;

    /// <summary>A catalogue of the bundled model alone, with <paramref name="options"/>' batch size and threads.</summary>
    /// <exception cref="OptionsValidationException"><paramref name="options"/> are invalid.</exception>
    /// <exception cref="IOException">A packaged model file is missing or unreadable.</exception>
    public ModelCatalog(IOptions<EngineOptions> options, ILoggerFactory loggerFactory)
        : this(options, Options.Create(new ModelRegistryOptions()), loggerFactory)
    {
    }

    /// <summary>A catalogue of every model <paramref name="registry"/> registers.</summary>
    /// <exception cref="OptionsValidationException">
    /// <paramref name="options"/> or <paramref name="registry"/> are invalid, or a tokenizer or end-of-sequence token
    /// does not work; each failure names the entry and the key.
    /// </exception>
    /// <exception cref="IOException">A packaged model file is missing or unreadable.</exception>
    public ModelCatalog(IOptions<EngineOptions> options, IOptions<ModelRegistryOptions> registry, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var engineOptions = options.Value;
        // Validated here as well as at host start, so a catalogue built by hand cannot hold a nonsensical setting.
        var validation = new EngineOptionsValidator().Validate(Options.DefaultName, engineOptions);
        if (validation.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(EngineOptions), validation.Failures);
        }

        var (specs, failures) = ModelRegistry.Resolve(engineOptions, registry.Value.Models);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(ModelRegistryOptions), failures);
        }

        var entries = new List<Entry>();
        var buildFailures = new List<string>();
        try
        {
            foreach (var spec in specs)
            {
                try
                {
                    entries.Add(Build(spec, engineOptions, loggerFactory));
                }
                catch (InvalidDataException exception)
                {
                    buildFailures.Add(exception.Message);
                }
            }

            if (buildFailures.Count > 0)
            {
                throw new OptionsValidationException(Options.DefaultName, typeof(ModelRegistryOptions), buildFailures);
            }
        }
        catch
        {
            foreach (var entry in entries)
            {
                (entry.Model as IDisposable)?.Dispose();
            }

            throw;
        }

        _models = entries.ToDictionary(entry => entry.Model.Descriptor.Id, StringComparer.Ordinal);
    }

    /// <summary>
    /// Every model this process can serve, whether loaded or not, in registry order. <see cref="ModelDescriptor.Device"/>
    /// is where the model runs: before its session exists, the device this process can offer it; after, the one it got.
    /// </summary>
    public IReadOnlyCollection<ModelDescriptor> Models => [.. _models.Values.Select(entry => entry.Describe())];

    /// <summary>Finds a model by its exact (lower-case) id.</summary>
    /// <remarks>Check <see cref="ModelDescriptor.Kind"/>, or test for e.g. <see cref="IEmbeddingModel"/>, before running it.</remarks>
    public bool TryGet(string id, [NotNullWhen(true)] out IInferenceModel? model)
    {
        model = _models.TryGetValue(id, out var entry) ? entry.Model : null;
        return model is not null;
    }

    /// <summary>A model's descriptor as <see cref="Models"/> lists it, the device it really runs on included.</summary>
    public bool TryDescribe(string id, [NotNullWhen(true)] out ModelDescriptor? descriptor)
    {
        descriptor = _models.TryGetValue(id, out var entry) ? entry.Describe() : null;
        return descriptor is not null;
    }

    /// <summary>Loads every model now, so that no request pays for it; for roles that run models.</summary>
    public Task WarmUpAsync(CancellationToken cancellationToken) => WarmUpAsync(_models.Keys, cancellationToken);

    /// <summary>
    /// Loads the models <paramref name="ids"/> now, one after the other: a worker that serves a subset warms only its own.
    /// </summary>
    /// <exception cref="ArgumentException">An id is not in the catalogue.</exception>
    public async Task WarmUpAsync(IEnumerable<string> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var models = ids.Select(id => _models.TryGetValue(id, out var entry)
            ? entry.Model
            : throw new ArgumentException($"Model '{id}' is not in the catalogue: it serves {string.Join(", ", _models.Keys)}.", nameof(ids))).ToList();
        foreach (var model in models)
        {
            await model.WarmUpAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        foreach (var entry in _models.Values)
        {
            (entry.Model as IDisposable)?.Dispose();
        }
    }

    private static Entry Build(ModelSpec spec, EngineOptions engineOptions, ILoggerFactory loggerFactory)
    {
        switch (spec.Kind)
        {
            case ModelKind.Embedding:
                var embedding = spec.IsBundled
                    ? AllMiniLmL6V2.Create(spec, engineOptions, loggerFactory)
                    : BertEmbeddingModels.Create(spec, loggerFactory);
                return new Entry(embedding, () => embedding.Descriptor.Device);
            case ModelKind.TextGeneration:
                var parts = GenerationModelFactory.Prepare(spec, loggerFactory);
                return new Entry(GenerationModelFactory.Create(parts, loggerFactory), () => parts.Sessions.Device);
            default:
                throw new InvalidOperationException($"A model kind the catalogue cannot build: {spec.Kind}.");
        }
    }

    /// <summary>A model and where it runs now.</summary>
    private sealed record Entry(IInferenceModel Model, Func<string> Device)
    {
        public ModelDescriptor Describe()
        {
            var descriptor = Model.Descriptor;
            var device = Device();
            return descriptor.Device == device ? descriptor : descriptor with { Device = device };
        }
    }
}
