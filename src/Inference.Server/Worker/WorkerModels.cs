using System.Diagnostics.CodeAnalysis;
using Inference.Engine;
using Microsoft.Extensions.Options;

namespace Inference.Server.Worker;

/// <summary>
/// The models this worker serves: the catalogue's, or those <see cref="WorkerOptions.Models"/> names. Each has its own
/// queue (<see cref="Inference.Orchestration.Protocol.ProtocolEndpoints.WorkerFor"/>). Also whether they are loaded and warm, which
/// is what makes a worker ready (<see cref="ModelWarmUp"/>, <see cref="Hosting.WorkerReadinessCheck"/>).
/// </summary>
public sealed class WorkerModels
{
    private readonly Dictionary<string, IInferenceModel> _models;
    private volatile string? _warmUpFailure;
    private volatile bool _warm;

    /// <param name="catalog">Every model this process could serve.</param>
    /// <param name="options">Which of them this worker serves.</param>
    /// <exception cref="InvalidOperationException"><see cref="WorkerOptions.Models"/> names a model that is not in
    /// <paramref name="catalog"/>: the worker must not start.</exception>
    public WorkerModels(IEnumerable<IInferenceModel> catalog, IOptions<WorkerOptions> options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(options);
        var available = catalog.ToDictionary(model => model.Descriptor.Id, StringComparer.Ordinal);
        var wanted = options.Value.Models;
        if (wanted.Count == 0)
        {
            _models = available;
        }
        else
        {
            var unknown = wanted.Where(id => !available.ContainsKey(id)).ToList();
            if (unknown.Count > 0)
            {
                throw new InvalidOperationException(
                    $"{WorkerOptions.ModelsKey} names {string.Join(", ", unknown.Select(id => $"'{id}'"))}, not in the model catalogue " +
                    $"({string.Join(", ", available.Keys.Order(StringComparer.Ordinal))}). Fix {WorkerOptions.ModelsKey}, " +
                    "or configure the model under Models.");
            }

            _models = wanted.ToDictionary(id => id, id => available[id], StringComparer.Ordinal);
        }

        if (_models.Count == 0)
            throw new InvalidOperationException($"The model catalogue is empty: this worker would serve nothing ({WorkerOptions.ModelsKey}).");

        Models = [.. _models.Values.OrderBy(model => model.Descriptor.Id, StringComparer.Ordinal)];
    }

    /// <summary>The catalogue's models that this worker serves, by id.</summary>
    public static WorkerModels FromCatalog(ModelCatalog catalog, IOptions<WorkerOptions> options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var models = catalog.Models.Select(descriptor =>
            catalog.TryGet(descriptor.Id, out var model)
                ? model
                : throw new InvalidOperationException($"The catalogue lists model '{descriptor.Id}' but does not hold it."));
        return new WorkerModels([.. models], options);
    }

    /// <summary>The served models, in id order.</summary>
    public IReadOnlyList<IInferenceModel> Models { get; }

    /// <summary>True once every served model is loaded and warm.</summary>
    public bool IsWarm => _warm;

    /// <summary>Why warming up failed, or null: the worker stays unready.</summary>
    public string? WarmUpFailure => _warmUpFailure;

    /// <summary>Finds a served model by its exact id.</summary>
    public bool TryGet(string id, [NotNullWhen(true)] out IInferenceModel? model) => _models.TryGetValue(id, out model);

    /// <summary>Loads and warms every served model, one after the other, and records the outcome for readiness.</summary>
    /// <exception cref="OperationCanceledException">The host stopped meanwhile.</exception>
    internal async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        foreach (var model in Models)
        {
            try
            {
                await model.WarmUpAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _warmUpFailure = $"Model '{model.Descriptor.Id}' failed to load: {exception.Message}";
                throw new ModelWarmUpException(model.Descriptor.Id, exception);
            }
        }

        _warm = true;
    }
}

/// <summary>A served model could not be loaded or warmed: the worker stays unready.</summary>
public sealed class ModelWarmUpException(string model, Exception inner)
    : Exception($"Model '{model}' failed to load: {inner.Message}", inner)
{
    public string Model { get; } = model;
}
