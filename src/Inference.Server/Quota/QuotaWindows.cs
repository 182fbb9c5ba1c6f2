using System.Globalization;

namespace Inference.Server.Quota;

/// <summary>
/// The UTC calendar minute, day and month that contain one instant, and when their counters may be forgotten. Both
/// ledgers derive every time-dependent value from here, so they agree on window edges to the millisecond.
/// </summary>
internal readonly record struct QuotaWindows
{
    /// <summary>
    /// How long a window's counter outlives the window. Long enough for settlements of inferences that straddle the
    /// window's end to correct it; past that the window no longer matters for admission, so its counter goes.
    /// </summary>
    public static readonly TimeSpan MinuteCounterGrace = TimeSpan.FromMinutes(2);

    /// <inheritdoc cref="MinuteCounterGrace"/>
    public static readonly TimeSpan DayCounterGrace = TimeSpan.FromDays(2);

    /// <inheritdoc cref="MinuteCounterGrace"/>
    public static readonly TimeSpan MonthCounterGrace = TimeSpan.FromDays(2);

    /// <summary>
    /// How long a caller that wants a concurrency slot should wait: slots free when requests end, which no clock
    /// predicts, so this is a short, fixed hint.
    /// </summary>
    public static readonly TimeSpan ConcurrencyRetryAfter = TimeSpan.FromSeconds(1);

    private QuotaWindows(DateTimeOffset now)
    {
        var utc = now.ToUniversalTime();
        // Redis stores instants as Unix milliseconds; truncating here keeps both ledgers' answers identical.
        utc = utc.AddTicks(-(utc.Ticks % TimeSpan.TicksPerMillisecond));
        Now = utc;
        MinuteStart = new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, utc.Minute, 0, TimeSpan.Zero);
        DayStart = new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero);
        MonthStart = new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
    }

    public DateTimeOffset Now { get; }

    public DateTimeOffset MinuteStart { get; }

    public DateTimeOffset MinuteEnd => MinuteStart.AddMinutes(1);

    public DateTimeOffset DayStart { get; }

    public DateTimeOffset DayEnd => DayStart.AddDays(1);

    public DateTimeOffset MonthStart { get; }

    public DateTimeOffset MonthEnd => MonthStart.AddMonths(1);

    /// <summary>The minute as it appears in keys: <c>yyyyMMddHHmm</c>.</summary>
    public string MinuteId => FormatMinuteId(MinuteStart);

    /// <summary>The day as it appears in keys: <c>yyyyMMdd</c>.</summary>
    public string DayId => FormatDayId(DayStart);

    /// <summary>The month as it appears in keys: <c>yyyyMM</c>.</summary>
    public string MonthId => FormatMonthId(MonthStart);

    public DateTimeOffset MinuteCounterExpiresAt => MinuteEnd + MinuteCounterGrace;

    public DateTimeOffset DayCounterExpiresAt => DayEnd + DayCounterGrace;

    public DateTimeOffset MonthCounterExpiresAt => MonthEnd + MonthCounterGrace;

    public static QuotaWindows At(DateTimeOffset now) => new(now);

    public static string FormatMinuteId(DateTimeOffset minuteStart) =>
        minuteStart.UtcDateTime.ToString("yyyyMMddHHmm", CultureInfo.InvariantCulture);

    public static string FormatDayId(DateTimeOffset dayStart) =>
        dayStart.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    public static string FormatMonthId(DateTimeOffset monthStart) =>
        monthStart.UtcDateTime.ToString("yyyyMM", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseMinuteId(string minuteId) => ParseId(minuteId, "yyyyMMddHHmm");

    public static DateTimeOffset ParseDayId(string dayId) => ParseId(dayId, "yyyyMMdd");

    public static DateTimeOffset ParseMonthId(string monthId) => ParseId(monthId, "yyyyMM");

    private static DateTimeOffset ParseId(string id, string format) => DateTimeOffset.ParseExact(
        id,
        format,
        CultureInfo.InvariantCulture,
        DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
