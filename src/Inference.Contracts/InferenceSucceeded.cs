namespace Inference.Contracts;

public sealed record InferenceSucceeded
{
    public required Guid InferenceId { get; init; }

    public required InferenceOutput Output { get; init; }

    public required InferenceUsage Usage { get; init; }
}
