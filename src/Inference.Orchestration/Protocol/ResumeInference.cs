namespace Inference.Orchestration.Protocol;

/// <summary>
/// Send again whatever the request is waiting for. Sent to <see cref="Contracts.InferenceEndpoints.Orchestrator"/> for requests
/// whose in-flight messages were lost with a process (the embedded mode's in-memory transport keeps nothing across a
/// restart); every step it repeats acts at most once per request.
/// </summary>
public sealed record ResumeInference
{
    public required Guid InferenceId { get; init; }
}
