namespace Inference.Orchestration.Protocol;

/// <summary>Reserve a request's tokens against its tenant's quota before inference. Answered by
/// <see cref="QuotaReserved"/> or <see cref="QuotaRejected"/>; reserving the same id twice answers the same.</summary>
public sealed record ReserveQuota
{
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }

    public required long Tokens { get; init; }

    /// <summary>
    /// The request's deadline; its concurrency slot is freed then at the latest, so that a release that never arrives
    /// (lost to a long broker or Redis outage) cannot hold the slot forever. By then the saga has ended the request.
    /// Absent from older senders: the ledger then bounds the slot by its own maximum lifetime.
    /// </summary>
    public DateTimeOffset? NotAfter { get; init; }
}
