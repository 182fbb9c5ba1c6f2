namespace Inference.Server.Quota;

/// <summary>What a rebuild writes for one tenant: its current windows and its open reservations.</summary>
/// <param name="TenantId">The tenant.</param>
/// <param name="Day">Today's window: settled tokens of today, reserved tokens of open requests admitted today.</param>
/// <param name="Month">This month's window: the sum of the month's days, and open requests admitted this month.</param>
/// <param name="MinuteReserved">Tokens of open requests admitted in the current minute (the minute starts fresh).</param>
/// <param name="MinuteRequests">Open requests admitted in the current minute, counted as requests made.</param>
/// <param name="Open">The reservations to recreate in state reserved; each takes a concurrency slot.</param>
internal sealed record TenantRebuild(
    string TenantId,
    WindowCount Day,
    WindowCount Month,
    long MinuteReserved,
    long MinuteRequests,
    IReadOnlyList<OpenReservation> Open);

/// <summary>
/// Turns a <see cref="QuotaSnapshot"/> into what both ledgers write when they rebuild, so they rebuild alike.
/// </summary>
/// <remarks>
/// An open reservation's tokens go into the reserved tokens of the windows it was admitted in, but only where those are
/// the current windows: a settlement corrects the windows named in the reservation, and one that no longer exists is
/// left alone, exactly as when a window expires before its requests end.
/// </remarks>
internal static class QuotaRebuild
{
    public static IReadOnlyList<TenantRebuild> Plan(QuotaSnapshot snapshot, QuotaWindows now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var today = DateOnly.FromDateTime(now.DayStart.UtcDateTime);
        var tenants = snapshot.Settled.Select(x => x.TenantId)
            .Concat(snapshot.Open.Select(x => x.TenantId))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal);

        var plans = new List<TenantRebuild>();
        foreach (var tenant in tenants)
        {
            var settled = snapshot.Settled
                .Where(x => x.TenantId == tenant && x.Day.Year == today.Year && x.Day.Month == today.Month)
                .ToList();
            var open = snapshot.Open.Where(x => x.TenantId == tenant).ToList();
            var windows = open.Select(x => (Reservation: x, Windows: QuotaWindows.At(x.ReservedAt))).ToList();

            plans.Add(new TenantRebuild(
                tenant,
                new WindowCount(
                    settled.Where(x => x.Day == today).Sum(x => x.Tokens),
                    windows.Where(x => x.Windows.DayStart == now.DayStart).Sum(x => x.Reservation.Tokens)),
                new WindowCount(
                    settled.Sum(x => x.Tokens),
                    windows.Where(x => x.Windows.MonthStart == now.MonthStart).Sum(x => x.Reservation.Tokens)),
                windows.Where(x => x.Windows.MinuteStart == now.MinuteStart).Sum(x => x.Reservation.Tokens),
                windows.Count(x => x.Windows.MinuteStart == now.MinuteStart),
                open));
        }

        return plans;
    }
}
