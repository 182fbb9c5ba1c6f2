using Inference.Contracts;

namespace Inference.Orchestration.Protocol;

/// <summary>Persist a finished inference's output so it can be read back. Answered by <see cref="ResultStored"/>.</summary>
public sealed record StoreResult
{
    public required Guid InferenceId { get; init; }

    public required InferenceOutput Output { get; init; }
}
