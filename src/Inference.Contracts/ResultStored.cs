namespace Inference.Contracts;

public sealed record ResultStored
{
    public required Guid InferenceId { get; init; }
}
