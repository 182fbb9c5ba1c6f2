namespace Inference.Server.Quota;

/// <summary>
/// What the quota windows must hold, read from the database (the billing record), for rebuilding a ledger that lost its
/// data: Redis flushed or failed over to an empty replica, or the in-process ledger after a restart.
/// </summary>
/// <param name="Settled">Tokens of finished requests per tenant and window: one entry per tenant and UTC day of the
/// current month (the month's total is their sum), from the usage ledger.</param>
/// <param name="Open">The requests admitted and not final (not those still waiting for their decision): their reservations are recreated as they were, so that their
/// settle or release finds them and corrects the windows, and their concurrency slots are taken again.</param>
public sealed record QuotaSnapshot(IReadOnlyList<SettledTokens> Settled, IReadOnlyList<OpenReservation> Open);

/// <summary>The tokens of a tenant's finished requests counted in one UTC day.</summary>
public sealed record SettledTokens(string TenantId, DateOnly Day, long Tokens);

/// <summary>A request admitted and not final: <paramref name="Tokens"/> stay reserved until it ends.</summary>
/// <param name="TenantId">The tenant whose quota pays for the request.</param>
/// <param name="InferenceId">The request (saga correlation id).</param>
/// <param name="Tokens">The tokens reserved for it.</param>
/// <param name="ReservedAt">When it was admitted: its reservation is recreated in the windows of that instant.</param>
/// <param name="NotAfter">The request's deadline, when its recreated concurrency slot frees itself; null: the
/// reservation time plus <see cref="QuotaOptions.SlotLifetime"/>.</param>
public sealed record OpenReservation(
    string TenantId,
    Guid InferenceId,
    long Tokens,
    DateTimeOffset ReservedAt,
    DateTimeOffset? NotAfter = null);

/// <summary>Where a ledger reads its <see cref="QuotaSnapshot"/> from when it finds its data lost.</summary>
public interface IQuotaSnapshotSource
{
    /// <summary>The settled tokens of the UTC month that contains <paramref name="now"/>, and every open reservation.</summary>
    Task<QuotaSnapshot> ReadAsync(DateTimeOffset now, CancellationToken cancellationToken);
}
