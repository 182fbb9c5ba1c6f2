namespace Inference.Server.Quota;

/// <summary>One window of a tenant's usage.</summary>
/// <param name="Used">Settled tokens (or requests made, or concurrency slots taken).</param>
/// <param name="Reserved">Tokens of admitted requests that have not been settled or released yet.</param>
/// <param name="ResetsAt">When the window ends and the next one starts from zero; <see langword="null"/> for concurrency.</param>
public readonly record struct QuotaWindowUsage(long Used, long Reserved, DateTimeOffset? ResetsAt)
{
    /// <summary>What admission compares with the limit: settled plus reserved.</summary>
    public long Total => Used + Reserved;
}

/// <summary>A tenant's usage in the current UTC windows.</summary>
/// <param name="Requests">Requests admitted in the current UTC minute (<see cref="QuotaWindowUsage.Reserved"/> is 0).</param>
/// <param name="MinuteTokens">Tokens of the current UTC minute.</param>
/// <param name="DayTokens">Tokens of the current UTC day.</param>
/// <param name="MonthTokens">Tokens of the current UTC month.</param>
/// <param name="Concurrent">Admitted requests not yet settled or released (<see cref="QuotaWindowUsage.Used"/>).</param>
public sealed record QuotaUsage(
    QuotaWindowUsage Requests,
    QuotaWindowUsage MinuteTokens,
    QuotaWindowUsage DayTokens,
    QuotaWindowUsage MonthTokens,
    QuotaWindowUsage Concurrent);
