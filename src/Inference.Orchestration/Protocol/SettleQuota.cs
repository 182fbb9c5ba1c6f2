namespace Inference.Orchestration.Protocol;

/// <summary>Replace a request's reservation by its actual usage. Applied at most once per request.</summary>
public sealed record SettleQuota
{
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }

    public required long ActualTokens { get; init; }
}
