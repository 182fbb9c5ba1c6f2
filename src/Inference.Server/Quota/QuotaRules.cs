namespace Inference.Server.Quota;

/// <summary>
/// The admission rule, in one place for the in-process ledger; <see cref="RedisQuotaLedger"/>'s Lua script states
/// the same rule and the shared test suite holds the two to it.
/// </summary>
internal static class QuotaRules
{
    /// <summary>
    /// Why <paramref name="tokens"/> may not be counted on top of the current usage, or <see langword="null"/> if
    /// they fit. A request that can never fit is reported first, as waiting would not help; then the day, because
    /// when both windows are full only the day's reset lets the request through.
    /// </summary>
    public static QuotaRejection? Check(
        long tokens,
        QuotaLimits limits,
        long minuteUsed,
        long dayUsed,
        QuotaWindows windows)
    {
        if (IsLimited(limits.TokensPerMinute) && tokens > limits.TokensPerMinute)
            return Reject(QuotaLimitKind.TokensPerMinute, limits.TokensPerMinute, minuteUsed, retryAfter: null);

        if (IsLimited(limits.TokensPerDay) && tokens > limits.TokensPerDay)
            return Reject(QuotaLimitKind.TokensPerDay, limits.TokensPerDay, dayUsed, retryAfter: null);

        if (IsLimited(limits.TokensPerDay) && dayUsed + tokens > limits.TokensPerDay)
            return Reject(QuotaLimitKind.TokensPerDay, limits.TokensPerDay, dayUsed, windows.DayEnd - windows.Now);

        if (IsLimited(limits.TokensPerMinute) && minuteUsed + tokens > limits.TokensPerMinute)
        {
            return Reject(
                QuotaLimitKind.TokensPerMinute,
                limits.TokensPerMinute,
                minuteUsed,
                windows.MinuteEnd - windows.Now);
        }

        return null;
    }

    private static bool IsLimited(long limit) => limit > 0;

    private static QuotaRejection Reject(QuotaLimitKind kind, long limit, long used, TimeSpan? retryAfter) =>
        new(kind, limit, Math.Max(0, limit - used), retryAfter);
}
