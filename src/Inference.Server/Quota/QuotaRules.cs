namespace Inference.Server.Quota;

/// <summary>What one of a tenant's token windows holds: settled and reserved tokens, kept apart.</summary>
internal readonly record struct WindowCount(long Used, long Reserved)
{
    public long Total => Used + Reserved;
}

/// <summary>What a tenant's current windows hold when a reservation is decided.</summary>
internal readonly record struct TenantCounts(
    long Requests,
    WindowCount Minute,
    WindowCount Day,
    WindowCount Month,
    long Concurrent);

/// <summary>
/// The admission rule, in one place for the in-process ledger; <see cref="RedisQuotaLedger"/>'s Lua script states
/// the same rule and the shared test suite holds the two to it.
/// </summary>
internal static class QuotaRules
{
    /// <summary>
    /// When a new reservation's concurrency slot frees itself if its settle or release never comes: the request's
    /// deadline, or without one the decision plus <paramref name="slotLifetime"/>.
    /// </summary>
    public static DateTimeOffset SlotExpiry(QuotaReservation reservation, DateTimeOffset now, TimeSpan slotLifetime) =>
        reservation.SlotExpiresAt ?? now + slotLifetime;

    /// <summary>The same for a reservation recreated by a rebuild, measured from when it was admitted.</summary>
    public static DateTimeOffset SlotExpiry(OpenReservation open, TimeSpan slotLifetime) =>
        open.NotAfter ?? open.ReservedAt + slotLifetime;

    /// <summary>
    /// Why <paramref name="tokens"/> (one request, one slot) may not be counted on top of <paramref name="counts"/>, or
    /// <see langword="null"/> if they fit. A request that can never fit is reported first (month, day, minute), as
    /// waiting would not help; then the windows from the longest to the shortest, because when several are full only
    /// the longest one's reset lets the request through; then requests per minute, then concurrency.
    /// </summary>
    public static QuotaRejection? Check(long tokens, QuotaPlan plan, TenantCounts counts, QuotaWindows windows)
    {
        const long Unlimited = long.MaxValue;
        var month = plan.TokensPerMonth ?? Unlimited;
        var day = plan.TokensPerDay ?? Unlimited;
        var minute = plan.TokensPerMinute ?? Unlimited;
        var requests = plan.RequestsPerMinute ?? Unlimited;
        var concurrent = plan.MaxConcurrent ?? Unlimited;

        if (tokens > month)
            return new(QuotaLimitKind.TokensPerMonth, month, counts.Month.Total, tokens, null);
        if (tokens > day)
            return new(QuotaLimitKind.TokensPerDay, day, counts.Day.Total, tokens, null);
        if (tokens > minute)
            return new(QuotaLimitKind.TokensPerMinute, minute, counts.Minute.Total, tokens, null);
        if (counts.Month.Total + tokens > month)
            return new(QuotaLimitKind.TokensPerMonth, month, counts.Month.Total, tokens, windows.MonthEnd - windows.Now);
        if (counts.Day.Total + tokens > day)
            return new(QuotaLimitKind.TokensPerDay, day, counts.Day.Total, tokens, windows.DayEnd - windows.Now);
        if (counts.Minute.Total + tokens > minute)
            return new(QuotaLimitKind.TokensPerMinute, minute, counts.Minute.Total, tokens, windows.MinuteEnd - windows.Now);
        if (counts.Requests + 1 > requests)
            return new(QuotaLimitKind.RequestsPerMinute, requests, counts.Requests, 1, windows.MinuteEnd - windows.Now);
        if (counts.Concurrent + 1 > concurrent)
            return new(QuotaLimitKind.Concurrency, concurrent, counts.Concurrent, 1, QuotaWindows.ConcurrencyRetryAfter);

        return null;
    }
}
