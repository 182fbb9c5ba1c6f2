using System.Diagnostics.CodeAnalysis;
using Inference.Engine;

namespace Inference.Server.Orchestration;

/// <summary>
/// The models a request may name, as the API and the submission gate look them up: validation, token counts, the task
/// and its limits. What they need of the engine's <see cref="ModelCatalog"/>, behind a seam of the platform's own, so
/// that a spec can serve a model the catalogue cannot build.
/// </summary>
public interface IServedModels
{
    /// <summary>Every model requests may name.</summary>
    IReadOnlyCollection<ModelDescriptor> Models { get; }

    /// <summary>Finds a model by its exact id.</summary>
    bool TryGet(string id, [NotNullWhen(true)] out IInferenceModel? model);
}

/// <summary>The engine's catalogue, as it is: what every deployment serves.</summary>
public sealed class CatalogModels(ModelCatalog catalog) : IServedModels
{
    public IReadOnlyCollection<ModelDescriptor> Models => catalog.Models;

    public bool TryGet(string id, [NotNullWhen(true)] out IInferenceModel? model) => catalog.TryGet(id, out model);
}
