using Inference.Contracts;

namespace Inference.Orchestration.Protocol;

public sealed record InferenceSucceeded
{
    public required Guid InferenceId { get; init; }

    public required InferenceOutput Output { get; init; }

    public required InferenceUsage Usage { get; init; }
}
