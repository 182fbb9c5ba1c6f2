namespace Inference.Orchestration.Protocol;

/// <summary>Give back a request's whole reservation (it failed or was canceled). Applied at most once per request.</summary>
public sealed record ReleaseQuota
{
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }
}
