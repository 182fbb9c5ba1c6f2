using System.Globalization;
using System.Text.Json.Serialization;
using Inference.Orchestration;
using Inference.Server.Api;
using Inference.Server.Persistence;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Usage;

/// <summary>
/// A tenant's billed usage over a range of completion times, per UTC day or per model: what both the tenant's
/// <c>GET /v1/usage</c> and the operators' <c>GET /admin/v1/tenants/{id}/usage</c> answer, from the usage ledger.
/// </summary>
/// <remarks>
/// The sums are computed by the database (<c>GROUP BY</c>) over one range of the index on (tenant, completed_at), so a
/// report costs one row per group whatever the number of requests. The totals are the sum of the groups.
/// </remarks>
public sealed class UsageReports(InferenceDbContext db, TimeProvider clock)
{
    /// <summary>The longest range one report covers: a year, leap day included.</summary>
    public static readonly TimeSpan MaxSpan = TimeSpan.FromDays(366);

    public const string GroupByDay = "day";
    public const string GroupByModel = "model";

    public const string RangeInvalid = "usage_range_invalid";
    public const string GroupByInvalid = "group_by_invalid";

    private static readonly string[] DateTimeFormats =
    [
        "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd'T'HH:mm:ssK",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
    ];

    /// <summary>
    /// Reads the query's parameters: <paramref name="from"/> and <paramref name="to"/> as ISO 8601 dates (midnight UTC)
    /// or date-times (UTC when they name no offset), by default the start of the current UTC month and now;
    /// <paramref name="groupBy"/> <c>day</c> (the default) or <c>model</c>. A bad one is the problem to answer.
    /// </summary>
    public (UsageQuery? Query, ProblemHttpResult? Problem) Parse(string? from, string? to, string? groupBy)
    {
        var grouping = groupBy ?? GroupByDay;
        if (grouping is not (GroupByDay or GroupByModel))
        {
            return (null, Problems.Validation(GroupByInvalid, $"'group_by' must be '{GroupByDay}' or '{GroupByModel}', not '{InputText.Printable(groupBy)}'.",
                [new FieldError("group_by", GroupByInvalid, "Unknown grouping.")]));
        }

        var now = clock.GetUtcNow();
        DateTimeOffset start = new(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var end = now;
        if (from is not null && !TryParseTime(from, out start))
            return (null, RangeProblem("from", $"'from' must be an ISO 8601 date or date-time, not '{InputText.Printable(from)}'."));
        if (to is not null && !TryParseTime(to, out end))
            return (null, RangeProblem("to", $"'to' must be an ISO 8601 date or date-time, not '{InputText.Printable(to)}'."));
        if (start >= end)
            return (null, RangeProblem("from", "'from' must be before 'to'."));
        if (end - start > MaxSpan)
            return (null, RangeProblem("to", string.Create(CultureInfo.InvariantCulture, $"A report covers at most {MaxSpan.TotalDays} days.")));

        return (new UsageQuery(start, end, grouping), null);
    }

    /// <summary>The tenant's report for <paramref name="query"/>.</summary>
    public async Task<UsageReportResponse> ReadAsync(string tenantId, UsageQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var rows = query.GroupBy == GroupByModel
            ? await ByModelAsync(tenantId, query, cancellationToken).ConfigureAwait(false)
            : await ByDayAsync(tenantId, query, cancellationToken).ConfigureAwait(false);
        var total = new UsageReportTotals(rows.Sum(x => x.Requests), rows.Sum(x => x.PromptTokens), rows.Sum(x => x.CompletionTokens),
            rows.Sum(x => x.TotalTokens));
        return new UsageReportResponse("usage", tenantId, query.From, query.To, query.GroupBy, rows, total);
    }

    private async Task<List<UsageReportRow>> ByDayAsync(string tenantId, UsageQuery query, CancellationToken cancellationToken)
    {
        var day = UsageSql.DayOf(db, "completed_at");
        var sql =
            $$"""
             SELECT {{day}} AS "Key", COUNT(*) AS "Requests", CAST(SUM(prompt_tokens) AS bigint) AS "PromptTokens",
                    CAST(SUM(completion_tokens) AS bigint) AS "CompletionTokens", CAST(SUM(total_tokens) AS bigint) AS "TotalTokens"
             FROM {{UsageRecordMap.Table}}
             WHERE tenant_id = {0} AND completed_at >= {1} AND completed_at < {2}
             GROUP BY {{day}}
             """;
        var groups = await db.Database.SqlQueryRaw<DayGroup>(sql, tenantId, UsageSql.Time(db, query.From), UsageSql.Time(db, query.To))
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        return [.. groups.OrderBy(x => x.Key).Select(x => new UsageReportRow(UsageSql.ToDate(x.Key), null, x.Requests, x.PromptTokens,
            x.CompletionTokens, x.TotalTokens))];
    }

    private async Task<List<UsageReportRow>> ByModelAsync(string tenantId, UsageQuery query, CancellationToken cancellationToken)
    {
        var groups = await db.Set<UsageRecord>().AsNoTracking()
            .Where(x => x.TenantId == tenantId && x.CompletedAt >= query.From && x.CompletedAt < query.To)
            .GroupBy(x => x.Model)
            .Select(g => new
            {
                Model = g.Key,
                Requests = g.LongCount(),
                PromptTokens = g.Sum(x => x.PromptTokens),
                CompletionTokens = g.Sum(x => x.CompletionTokens),
                TotalTokens = g.Sum(x => x.TotalTokens),
            })
            .ToListAsync(cancellationToken).ConfigureAwait(false);

        // Ordered here, by ordinal, so that both stores (whose collations differ) answer the same order.
        return [.. groups.OrderBy(x => x.Model, StringComparer.Ordinal).Select(x => new UsageReportRow(null, x.Model, x.Requests,
            x.PromptTokens, x.CompletionTokens, x.TotalTokens))];
    }

    private static bool TryParseTime(string text, out DateTimeOffset time)
    {
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            time = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            return true;
        }

        if (DateTimeOffset.TryParseExact(text, DateTimeFormats, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time))
        {
            return true;
        }

        time = default;
        return false;
    }

    private static ProblemHttpResult RangeProblem(string field, string detail) =>
        Problems.Validation(RangeInvalid, detail, [new FieldError(field, RangeInvalid, detail)]);

    /// <summary>One group as the database sums it.</summary>
    internal sealed class DayGroup
    {
        public long Key { get; init; }

        public long Requests { get; init; }

        public long PromptTokens { get; init; }

        public long CompletionTokens { get; init; }

        public long TotalTokens { get; init; }
    }
}

/// <summary>A report's range, <c>[From, To)</c> by completion time, and its grouping.</summary>
public sealed record UsageQuery(DateTimeOffset From, DateTimeOffset To, string GroupBy);

/// <summary>A tenant's usage over <c>[from, to)</c>: the groups (days or models) with usage, and their sum.</summary>
public sealed record UsageReportResponse(
    string Object,
    string TenantId,
    DateTimeOffset From,
    DateTimeOffset To,
    string GroupBy,
    IReadOnlyList<UsageReportRow> Data,
    UsageReportTotals Total);

/// <summary>One day's (UTC) or one model's usage: <c>day</c> or <c>model</c>, as the report is grouped.</summary>
public sealed record UsageReportRow(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateOnly? Day,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Model,
    long Requests,
    long PromptTokens,
    long CompletionTokens,
    long TotalTokens);

/// <summary>The sum of a report's groups.</summary>
public sealed record UsageReportTotals(long Requests, long PromptTokens, long CompletionTokens, long TotalTokens);
