namespace Inference.Server.Quota;

/// <summary>
/// Counts each tenant's requests and tokens in UTC calendar windows (requests and tokens per minute, tokens per day and
/// per month) and its requests in flight, and admits an inference only if it fits under every limit of its
/// <see cref="QuotaPlan"/>. Every operation acts at most once per inference id, so redelivered messages are harmless.
/// </summary>
/// <remarks>
/// The life of one reservation: <see cref="ReserveAsync"/> before inference; then exactly one of
/// <see cref="SettleAsync"/> (on success, with the actual usage) or <see cref="ReleaseAsync"/> (on failure or cancel).
/// Reserved tokens are kept apart from settled ones, and corrections go to the windows the tokens were counted in, not
/// the current ones, so an inference that runs across a minute, midnight or a month's end does not move tokens between
/// windows. A ledger that finds its data lost (a flushed Redis, a new process) rebuilds it from
/// <see cref="IQuotaSnapshotSource"/> before it decides again.
/// </remarks>
public interface IQuotaLedger
{
    /// <summary>
    /// Counts the reservation in the tenant's current windows if it fits under every limit of <paramref name="plan"/>:
    /// its tokens as reserved in the minute, day and month, one request in the minute and one concurrency slot.
    /// A redelivery (same tenant and inference id) returns the first decision again and counts nothing, even if
    /// the plan or the time have changed since.
    /// </summary>
    Task<QuotaDecision> ReserveAsync(
        QuotaReservation reservation,
        QuotaPlan plan,
        CancellationToken ct = default);

    /// <summary>
    /// Moves the reserved tokens out of the windows they were counted in and adds <paramref name="actualTokens"/> to
    /// their settled tokens (a window that has already expired is left alone), frees the concurrency slot and marks the
    /// reservation settled. A no-op unless it is reserved. The minute's request count stays: it counts requests made.
    /// </summary>
    /// <param name="tenantId">The tenant that made the reservation.</param>
    /// <param name="inferenceId">The inference the reservation belongs to.</param>
    /// <param name="actualTokens">
    /// The tokens the inference used; may exceed the reservation, in which case the tenant's windows go over their
    /// limits and later reservations wait.
    /// </param>
    /// <param name="ct">Stops waiting for the answer; the operation itself may still complete.</param>
    Task<QuotaSettlement> SettleAsync(
        string tenantId,
        Guid inferenceId,
        long actualTokens,
        CancellationToken ct = default);

    /// <summary>
    /// Takes the reserved tokens out of the windows they were counted in without charging any, frees the concurrency
    /// slot and marks the reservation released. A no-op unless it is reserved.
    /// </summary>
    Task<QuotaSettlement> ReleaseAsync(string tenantId, Guid inferenceId, CancellationToken ct = default);

    /// <summary>
    /// The tenant's usage in the current windows, read in one step (one Redis round trip). It reads what is there and
    /// never rebuilds lost data.
    /// </summary>
    Task<QuotaUsage> GetUsageAsync(string tenantId, CancellationToken ct = default);

    /// <summary>
    /// What the ledger remembers about an inference, or <see langword="null"/> if it never saw it or has forgotten it
    /// (after <see cref="QuotaOptions.ReservationRetention"/>).
    /// </summary>
    Task<ReservationRecord?> GetReservationAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken ct = default);

    /// <summary>
    /// Rebuilds the ledger from <see cref="IQuotaSnapshotSource"/> if its data is lost, and does nothing otherwise.
    /// <see cref="ReserveAsync"/>, <see cref="SettleAsync"/> and <see cref="ReleaseAsync"/> call it when they find the
    /// data lost (a settlement must find the reservation that the rebuild recreates); a host may call it at start to
    /// pay the rebuild before the first request.
    /// </summary>
    /// <exception cref="TimeoutException">Another process is rebuilding and has not finished in time; retry.</exception>
    Task RestoreAsync(CancellationToken ct = default);
}
