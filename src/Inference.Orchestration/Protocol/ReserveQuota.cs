namespace Inference.Orchestration.Protocol;

/// <summary>Reserve a request's tokens against its tenant's quota before inference. Answered by
/// <see cref="QuotaReserved"/> or <see cref="QuotaRejected"/>; reserving the same id twice answers the same.</summary>
public sealed record ReserveQuota
{
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }

    public required long Tokens { get; init; }
}
