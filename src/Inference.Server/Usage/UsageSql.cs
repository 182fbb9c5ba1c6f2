using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Usage;

/// <summary>
/// The SQL both stores need to count usage per UTC day in the database: the day a time falls in, as a whole number of
/// days since 1970-01-01, and the time as the store compares it.
/// </summary>
/// <remarks>
/// PostgreSQL keeps a <c>timestamptz</c>, whose UTC date is one cast away. SQLite keeps our times as UTC ticks
/// (<c>UtcTicksConverter</c>), and a UTC day is exactly <see cref="TimeSpan.TicksPerDay"/> ticks with no leap seconds
/// in between, so integer division of the ticks since the epoch is the day, exactly, and still computed by the
/// database: a report reads one row per day, not one per request.
/// </remarks>
internal static class UsageSql
{
    private static readonly DateOnly Epoch = DateOnly.FromDateTime(DateTime.UnixEpoch);

    /// <summary>The day <paramref name="column"/> (a time column) falls in, in days since 1970-01-01 UTC, as a bigint.</summary>
    public static string DayOf(DbContext db, string column) =>
        db.Database.IsNpgsql()
            ? $"CAST((({column} AT TIME ZONE 'UTC')::date - DATE '1970-01-01') AS bigint)"
            : $"(({column} - {DateTime.UnixEpoch.Ticks}) / {TimeSpan.TicksPerDay})";

    /// <summary>A time as a parameter that compares with a time column of this store.</summary>
    public static object Time(DbContext db, DateTimeOffset time) =>
        db.Database.IsNpgsql() ? time.ToUniversalTime() : time.UtcTicks;

    /// <summary>The day <see cref="DayOf"/> computed.</summary>
    public static DateOnly ToDate(long day) => DateOnly.FromDayNumber(Epoch.DayNumber + checked((int)day));
}
