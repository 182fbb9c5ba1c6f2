namespace Inference.Server.Quota;

/// <summary>A request to set tokens aside for one inference before it runs.</summary>
public sealed record QuotaReservation
{
    /// <param name="tenantId">The tenant whose quota pays for the inference.</param>
    /// <param name="inferenceId">The inference (saga correlation id); the ledger acts at most once per id.</param>
    /// <param name="tokens">Prompt tokens plus the most tokens the inference may generate.</param>
    public QuotaReservation(string tenantId, Guid inferenceId, long tokens)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        TenantId = tenantId;
        InferenceId = inferenceId;
        Tokens = tokens;
    }

    public string TenantId { get; }

    public Guid InferenceId { get; }

    public long Tokens { get; }
}
