namespace Inference.Orchestration.Protocol;

public sealed record InferenceStarted
{
    public required Guid InferenceId { get; init; }

    public required DateTimeOffset StartedAt { get; init; }
}
