namespace Inference.Contracts;

/// <summary>
/// Published once when a request fails, nothing charged: refused at the door (a bus submission with the REST API's
/// error code; nothing was stored), over quota (a window's code such as <c>rate_limit_tokens</c>), past the platform's deadline
/// (<c>deadline_exceeded</c>), or a step that kept failing (<c>inference_failed</c>, ...).
/// </summary>
public sealed record InferenceFailed
{
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }

    public required string Model { get; init; }

    public required InferenceError Error { get; init; }

    public required DateTimeOffset SubmittedAt { get; init; }

    public required DateTimeOffset FailedAt { get; init; }
}
