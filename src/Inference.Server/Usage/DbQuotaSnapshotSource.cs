using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Quota;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Usage;

/// <summary>
/// The quota windows as the database says they must be, for a ledger that lost its data: the month's settled tokens
/// from the usage ledger, and the reservations of every request that has not ended. A singleton, as the ledgers that
/// read it are; each read takes a scope, and a DbContext, of its own.
/// </summary>
/// <remarks>
/// <para>
/// Settled tokens are counted by the day the request was <em>submitted</em> (<see cref="UsageRecord.SubmittedAt"/>),
/// not the day it completed: the ledger counted the reservation in the windows of its submission, and the settle
/// corrected that same window, so a request that straddles midnight belongs to the day it started in.
/// </para>
/// <para>
/// Two queries: the month's records summed per tenant and day by the database (see <see cref="SettledSql"/>); and the
/// unfinished requests, found through the index on (current_state, deadline_at), whose leading column selects
/// the three unfinished states without reading the finished rows, which are nearly all of them.
/// </para>
/// </remarks>
public sealed class DbQuotaSnapshotSource(IServiceScopeFactory scopes) : IQuotaSnapshotSource
{
    /// <summary>
    /// The states of a request whose reservation was admitted and has not ended. Not Submitted: its reservation is
    /// undecided (or decided and not heard of yet), and recreating it as reserved would admit it unchecked when its
    /// ReserveQuota arrives; it is decided after the rebuild like any other. The price: one admitted a moment before the
    /// loss and not yet QuotaReserved is missing from the rebuilt windows until it ends (its settlement finds no
    /// reservation), an undercount of the requests in that instant only.
    /// </summary>
    private static readonly string[] AdmittedStates = [InferenceStates.QuotaReserved, InferenceStates.Inferring];

    public async Task<QuotaSnapshot> ReadAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var utc = now.ToUniversalTime();
        var monthStart = new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var monthEnd = monthStart.AddMonths(1);

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();

        var settled = await db.Database.SqlQueryRaw<SettledGroup>(SettledSql(db), UsageSql.Time(db, monthStart), UsageSql.Time(db, monthEnd))
            .ToListAsync(cancellationToken).ConfigureAwait(false);

        var open = await db.Inferences.AsNoTracking()
            .Where(x => AdmittedStates.Contains(x.CurrentState))
            .Select(x => new { x.TenantId, x.CorrelationId, x.ReservedTokens, x.CreatedAt, x.DeadlineAt })
            .ToListAsync(cancellationToken).ConfigureAwait(false);

        return new QuotaSnapshot(
            [.. settled.Select(x => new SettledTokens(x.TenantId, UsageSql.ToDate(x.Day), x.Tokens))],
            [.. open.Select(x => new OpenReservation(
                x.TenantId, x.CorrelationId, x.ReservedTokens, x.CreatedAt, x.DeadlineAt == default ? null : x.DeadlineAt))]);
    }

    /// <summary>
    /// The month's tokens per tenant and day of submission, over the index on (tenant_id, submitted_at): each tenant's
    /// month is one range of it, so the read costs the month's records, not the whole history the ledger keeps. The
    /// tenants are found by walking the same index from one tenant id to the next (a loose index scan, written as a
    /// recursive query: neither store skips through an index by itself), which also finds the records of a tenant
    /// that no longer exists. PostgreSQL is made to read each tenant's range with <c>LATERAL</c>; left to itself it
    /// scans the table. SQLite reads them so anyway.
    /// </summary>
    private static string SettledSql(DbContext db)
    {
        const string tenants =
            $"""
             WITH RECURSIVE tenant_ids(id) AS (
                 SELECT MIN(tenant_id) FROM {UsageRecordMap.Table}
                 UNION ALL
                 SELECT (SELECT MIN(u.tenant_id) FROM {UsageRecordMap.Table} u WHERE u.tenant_id > t.id) FROM tenant_ids t WHERE t.id IS NOT NULL
             )
             """;
        var day = UsageSql.DayOf(db, "r.submitted_at");
        return db.Database.IsNpgsql()
            ? $$"""
                {{tenants}}
                SELECT t.id AS "TenantId", s."Day", s."Tokens"
                FROM tenant_ids t CROSS JOIN LATERAL (
                    SELECT {{day}} AS "Day", CAST(SUM(r.total_tokens) AS bigint) AS "Tokens"
                    FROM {{UsageRecordMap.Table}} r
                    WHERE r.tenant_id = t.id AND r.submitted_at >= {0} AND r.submitted_at < {1}
                    GROUP BY {{day}}) s
                """
            : $$"""
                {{tenants}}
                SELECT r.tenant_id AS "TenantId", {{day}} AS "Day", CAST(SUM(r.total_tokens) AS bigint) AS "Tokens"
                FROM tenant_ids t JOIN {{UsageRecordMap.Table}} r ON r.tenant_id = t.id
                WHERE r.submitted_at >= {0} AND r.submitted_at < {1}
                GROUP BY r.tenant_id, {{day}}
                """;
    }

    /// <summary>One tenant's day as the database sums it.</summary>
    internal sealed class SettledGroup
    {
        public required string TenantId { get; init; }

        public long Day { get; init; }

        public long Tokens { get; init; }
    }
}
