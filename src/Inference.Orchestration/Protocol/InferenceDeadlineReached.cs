namespace Inference.Orchestration.Protocol;

/// <summary>
/// A request is past its deadline and has not ended. Sent to <see cref="Contracts.InferenceEndpoints.Orchestrator"/> by the
/// deadline sweeper, which reads the deadline stored with the saga; the saga fails the request and releases its quota.
/// </summary>
public sealed record InferenceDeadlineReached
{
    public required Guid InferenceId { get; init; }

    /// <summary>The deadline as stored with the request.</summary>
    public required DateTimeOffset Deadline { get; init; }
}
