namespace Inference.Server.Quota;

/// <summary>A request to set tokens aside for one inference before it runs.</summary>
public sealed record QuotaReservation
{
    /// <param name="tenantId">The tenant whose quota pays for the inference.</param>
    /// <param name="inferenceId">The inference (saga correlation id); the ledger acts at most once per id.</param>
    /// <param name="tokens">Prompt tokens plus the most tokens the inference may generate.</param>
    /// <param name="slotExpiresAt">When the concurrency slot frees itself if no settle or release comes: the request's
    /// deadline, after which it cannot be unfinished. Null: the decision time plus
    /// <see cref="QuotaOptions.SlotLifetime"/>.</param>
    public QuotaReservation(string tenantId, Guid inferenceId, long tokens, DateTimeOffset? slotExpiresAt = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        TenantId = tenantId;
        InferenceId = inferenceId;
        Tokens = tokens;
        SlotExpiresAt = slotExpiresAt;
    }

    public string TenantId { get; }

    public Guid InferenceId { get; }

    public long Tokens { get; }

    public DateTimeOffset? SlotExpiresAt { get; }
}
