namespace Inference.Server.Quota;

/// <summary>
/// Counts each tenant's tokens in UTC calendar windows (minute and day) and admits an inference only if its
/// tokens fit in both. Every operation acts at most once per inference id, so redelivered messages are harmless.
/// </summary>
/// <remarks>
/// The life of one reservation: <see cref="ReserveAsync"/> before inference; then exactly one of
/// <see cref="SettleAsync"/> (on success, with the actual usage) or <see cref="ReleaseAsync"/> (on failure or cancel).
/// Corrections go to the windows the tokens were counted in, not the current ones, so an inference that runs
/// across a minute or midnight does not move tokens between windows.
/// </remarks>
public interface IQuotaLedger
{
    /// <summary>
    /// Counts the reservation's tokens in the tenant's current minute and day if they fit under both limits.
    /// A redelivery (same tenant and inference id) returns the first decision again and counts nothing, even if
    /// the limits or the time have changed since.
    /// </summary>
    Task<QuotaDecision> ReserveAsync(
        QuotaReservation reservation,
        QuotaLimits limits,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the reserved tokens by <paramref name="actualTokens"/> in the windows they were counted in (a window
    /// that has already expired is left alone) and marks the reservation settled. A no-op unless it is reserved.
    /// </summary>
    /// <param name="tenantId">The tenant that made the reservation.</param>
    /// <param name="inferenceId">The inference the reservation belongs to.</param>
    /// <param name="actualTokens">
    /// The tokens the inference used; may exceed the reservation, in which case the tenant's windows go over their
    /// limits and later reservations wait.
    /// </param>
    /// <param name="cancellationToken">Stops waiting for the answer; the operation itself may still complete.</param>
    Task<QuotaSettlement> SettleAsync(
        string tenantId,
        Guid inferenceId,
        long actualTokens,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Gives all reserved tokens back to the windows they were counted in and marks the reservation released.
    /// A no-op unless it is reserved.
    /// </summary>
    Task<QuotaSettlement> ReleaseAsync(string tenantId, Guid inferenceId, CancellationToken cancellationToken = default);

    /// <summary>The tenant's tokens in the current UTC minute and day, reserved-but-unsettled tokens included.</summary>
    Task<QuotaUsage> GetUsageAsync(string tenantId, CancellationToken cancellationToken = default);

    /// <summary>
    /// What the ledger remembers about an inference, or <see langword="null"/> if it never saw it or has forgotten it
    /// (after <see cref="QuotaOptions.ReservationRetention"/>).
    /// </summary>
    Task<ReservationRecord?> GetReservationAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken cancellationToken = default);
}
