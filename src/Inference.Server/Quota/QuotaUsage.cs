namespace Inference.Server.Quota;

/// <summary>A tenant's token usage in the current UTC windows, reserved-but-unsettled tokens included.</summary>
/// <param name="TokensThisMinute">Tokens counted in the current UTC calendar minute.</param>
/// <param name="TokensToday">Tokens counted in the current UTC calendar day.</param>
/// <param name="MinuteResetsAt">When the current minute window ends (the next minute starts from zero).</param>
/// <param name="DayResetsAt">When the current day window ends: the next UTC midnight.</param>
public sealed record QuotaUsage(
    long TokensThisMinute,
    long TokensToday,
    DateTimeOffset MinuteResetsAt,
    DateTimeOffset DayResetsAt);
