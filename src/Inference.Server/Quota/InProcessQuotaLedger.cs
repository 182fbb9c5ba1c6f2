using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;

namespace Inference.Server.Quota;

/// <summary>
/// The quota ledger of the embedded single-process mode: the semantics of <see cref="RedisQuotaLedger"/>, counters
/// and reservations kept in memory behind one lock. Counters and reservations expire at the same instants as their
/// Redis keys would, measured on the injected <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// A new process has lost everything an earlier one counted, so the ledger starts "lost" and rebuilds itself from
/// <see cref="IQuotaSnapshotSource"/> on first use (or when <see cref="RestoreAsync"/> is called at start).
/// </remarks>
public sealed class InProcessQuotaLedger : IQuotaLedger
{
    // Expired entries are ignored when read; the sweep only bounds memory, so once a minute is plenty.
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(1);

    private readonly IQuotaSnapshotSource _snapshots;
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _reservationRetention;
    private readonly TimeSpan _slotLifetime;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _restoring = new(1, 1);
    private readonly Dictionary<CounterKey, Counter> _counters = [];
    /// <summary>Per tenant, its concurrency slots: inference id to the slot's expiry (Redis' sorted set).</summary>
    private readonly Dictionary<string, Dictionary<Guid, DateTimeOffset>> _slots = new(StringComparer.Ordinal);
    private readonly Dictionary<ReservationKey, StoredReservation> _reservations = [];
    private DateTimeOffset _nextSweepAt = DateTimeOffset.MinValue;
    private volatile bool _restored;

    public InProcessQuotaLedger(IQuotaSnapshotSource snapshots, IOptions<QuotaOptions> options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _snapshots = snapshots;
        _timeProvider = timeProvider;
        _reservationRetention = options.Value.ReservationRetention;
        _slotLifetime = options.Value.SlotLifetime;
    }

    public async Task<QuotaDecision> ReserveAsync(
        QuotaReservation reservation,
        QuotaPlan plan,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(plan);
        if (!_restored)
            await RestoreAsync(ct).ConfigureAwait(false);

        var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
        var tenant = reservation.TenantId;
        var reservationKey = new ReservationKey(tenant, reservation.InferenceId);
        var minuteKey = new CounterKey(tenant, windows.MinuteId);
        var dayKey = new CounterKey(tenant, windows.DayId);
        var monthKey = new CounterKey(tenant, windows.MonthId);

        lock (_gate)
        {
            SweepExpired(windows.Now);
            if (TryGetReservation(reservationKey, windows.Now, out var existing))
                return existing.Record.Decision;

            var minute = Find(minuteKey, windows.Now);
            var counts = new TenantCounts(
                minute?.Requests ?? 0,
                minute?.Count ?? default,
                Find(dayKey, windows.Now)?.Count ?? default,
                Find(monthKey, windows.Now)?.Count ?? default,
                TakenSlots(tenant, windows.Now));
            var rejection = QuotaRules.Check(reservation.Tokens, plan, counts, windows);

            QuotaDecision decision;
            if (rejection is null)
            {
                var minuteCounter = GetOrCreate(minuteKey, windows.MinuteCounterExpiresAt, windows.Now);
                minuteCounter.Reserved += reservation.Tokens;
                minuteCounter.Requests++;
                GetOrCreate(dayKey, windows.DayCounterExpiresAt, windows.Now).Reserved += reservation.Tokens;
                GetOrCreate(monthKey, windows.MonthCounterExpiresAt, windows.Now).Reserved += reservation.Tokens;
                TakeSlot(
                    tenant,
                    reservation.InferenceId,
                    QuotaRules.SlotExpiry(reservation, windows.Now, _slotLifetime),
                    windows.Now);
                decision = QuotaDecision.Reserved(reservation.Tokens);
            }
            else
            {
                decision = QuotaDecision.Rejected(reservation.Tokens, rejection);
            }

            var record = new ReservationRecord(
                tenant,
                reservation.InferenceId,
                decision.IsReserved ? ReservationState.Reserved : ReservationState.Rejected,
                decision,
                windows.MinuteStart,
                windows.DayStart,
                windows.MonthStart,
                windows.Now,
                ChargedTokens: null,
                FinishedAt: null);
            _reservations[reservationKey] = new StoredReservation(record, windows.Now + _reservationRetention);
            return decision;
        }
    }

    public Task<QuotaSettlement> SettleAsync(
        string tenantId,
        Guid inferenceId,
        long actualTokens,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(actualTokens);
        return FinishAsync(tenantId, inferenceId, ReservationState.Settled, actualTokens, ct);
    }

    public Task<QuotaSettlement> ReleaseAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken ct = default) =>
        FinishAsync(tenantId, inferenceId, ReservationState.Released, chargedTokens: 0, ct);

    public Task<QuotaUsage> GetUsageAsync(string tenantId, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
        lock (_gate)
        {
            var minute = Find(new CounterKey(tenantId, windows.MinuteId), windows.Now);
            var day = Find(new CounterKey(tenantId, windows.DayId), windows.Now);
            var month = Find(new CounterKey(tenantId, windows.MonthId), windows.Now);
            return Task.FromResult(new QuotaUsage(
                new QuotaWindowUsage(minute?.Requests ?? 0, 0, windows.MinuteEnd),
                new QuotaWindowUsage(minute?.Used ?? 0, minute?.Reserved ?? 0, windows.MinuteEnd),
                new QuotaWindowUsage(day?.Used ?? 0, day?.Reserved ?? 0, windows.DayEnd),
                new QuotaWindowUsage(month?.Used ?? 0, month?.Reserved ?? 0, windows.MonthEnd),
                new QuotaWindowUsage(TakenSlots(tenantId, windows.Now), 0, null)));
        }
    }

    public Task<ReservationRecord?> GetReservationAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var now = QuotaWindows.At(_timeProvider.GetUtcNow()).Now;
        lock (_gate)
        {
            return Task.FromResult(
                TryGetReservation(new ReservationKey(tenantId, inferenceId), now, out var stored) ? stored.Record : null);
        }
    }

    public async Task RestoreAsync(CancellationToken ct = default)
    {
        if (_restored)
            return;

        // One rebuild at a time; whoever waited finds it done.
        await _restoring.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_restored)
                return;

            var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
            var snapshot = await _snapshots.ReadAsync(windows.Now, ct).ConfigureAwait(false);
            var plans = QuotaRebuild.Plan(snapshot, windows);
            lock (_gate)
            {
                foreach (var plan in plans)
                    Apply(plan, windows);

                _restored = true;
            }
        }
        finally
        {
            _restoring.Release();
        }
    }

    private void Apply(TenantRebuild plan, QuotaWindows windows)
    {
        var tenant = plan.TenantId;
        var minute = Replace(new CounterKey(tenant, windows.MinuteId), windows.MinuteCounterExpiresAt);
        minute.Reserved = plan.MinuteReserved;
        minute.Requests = plan.MinuteRequests;
        var day = Replace(new CounterKey(tenant, windows.DayId), windows.DayCounterExpiresAt);
        (day.Used, day.Reserved) = (plan.Day.Used, plan.Day.Reserved);
        var month = Replace(new CounterKey(tenant, windows.MonthId), windows.MonthCounterExpiresAt);
        (month.Used, month.Reserved) = (plan.Month.Used, plan.Month.Reserved);
        _slots.Remove(tenant);

        foreach (var open in plan.Open)
        {
            TakeSlot(tenant, open.InferenceId, QuotaRules.SlotExpiry(open, _slotLifetime), windows.Now);
            var at = QuotaWindows.At(open.ReservedAt);
            var record = new ReservationRecord(
                tenant,
                open.InferenceId,
                ReservationState.Reserved,
                QuotaDecision.Reserved(open.Tokens),
                at.MinuteStart,
                at.DayStart,
                at.MonthStart,
                at.Now,
                ChargedTokens: null,
                FinishedAt: null);
            _reservations[new ReservationKey(tenant, open.InferenceId)] =
                new StoredReservation(record, windows.Now + _reservationRetention);
        }
    }

    private Counter Replace(CounterKey key, DateTimeOffset expiresAt) => _counters[key] = new Counter(expiresAt);

    private async Task<QuotaSettlement> FinishAsync(
        string tenantId,
        Guid inferenceId,
        ReservationState finalState,
        long chargedTokens,
        CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        // Before the rebuild the reservation may exist only in the snapshot: finishing it first would leave the
        // recreated one holding its tokens and its slot.
        if (!_restored)
            await RestoreAsync(ct).ConfigureAwait(false);

        return Finish(tenantId, inferenceId, finalState, chargedTokens);
    }

    private QuotaSettlement Finish(string tenantId, Guid inferenceId, ReservationState finalState, long chargedTokens)
    {
        var now = QuotaWindows.At(_timeProvider.GetUtcNow()).Now;
        var reservationKey = new ReservationKey(tenantId, inferenceId);

        lock (_gate)
        {
            SweepExpired(now);
            if (!TryGetReservation(reservationKey, now, out var stored))
                return QuotaSettlement.NotReserved;

            var record = stored.Record;
            var reservedTokens = record.Decision.Tokens;
            switch (record.State)
            {
                case ReservationState.Rejected:
                    return new QuotaSettlement(QuotaSettlementOutcome.WasRejected, reservedTokens, 0);
                case ReservationState.Settled:
                    return new QuotaSettlement(
                        QuotaSettlementOutcome.AlreadySettled,
                        reservedTokens,
                        record.ChargedTokens ?? 0);
                case ReservationState.Released:
                    return new QuotaSettlement(QuotaSettlementOutcome.AlreadyReleased, reservedTokens, 0);
                case ReservationState.Reserved:
                default:
                    break;
            }

            // Correct the windows the tokens were counted in, never the current ones; an expired window stays gone.
            foreach (var windowId in new[]
            {
                QuotaWindows.FormatMinuteId(record.MinuteWindow),
                QuotaWindows.FormatDayId(record.DayWindow),
                QuotaWindows.FormatMonthId(record.MonthWindow),
            })
            {
                if (Find(new CounterKey(tenantId, windowId), now) is { } counter)
                {
                    counter.Reserved = Math.Max(0, counter.Reserved - reservedTokens);
                    counter.Used += chargedTokens;
                }
            }

            // Only this request's own slot: after its expiry it is gone already, and nobody else's is touched.
            if (_slots.TryGetValue(tenantId, out var slots))
                slots.Remove(inferenceId);

            _reservations[reservationKey] = stored with
            {
                Record = record with { State = finalState, ChargedTokens = chargedTokens, FinishedAt = now },
            };
            return new QuotaSettlement(QuotaSettlementOutcome.Applied, reservedTokens, chargedTokens);
        }
    }

    /// <summary>The tenant's live slots; expired ones are dropped, as the Redis script drops them before counting.</summary>
    private int TakenSlots(string tenantId, DateTimeOffset now)
    {
        if (!_slots.TryGetValue(tenantId, out var slots))
            return 0;

        foreach (var (inferenceId, expiresAt) in slots)
        {
            if (now >= expiresAt)
                slots.Remove(inferenceId);
        }

        if (slots.Count == 0)
            _slots.Remove(tenantId);

        return slots.Count;
    }

    /// <summary>Takes a slot that frees itself at <paramref name="expiresAt"/>; one already past it holds nothing.</summary>
    private void TakeSlot(string tenantId, Guid inferenceId, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        if (now >= expiresAt)
            return;

        if (!_slots.TryGetValue(tenantId, out var slots))
            _slots[tenantId] = slots = [];

        slots[inferenceId] = expiresAt;
    }

    private bool TryGetReservation(
        ReservationKey key,
        DateTimeOffset now,
        [NotNullWhen(true)] out StoredReservation? stored)
    {
        if (_reservations.TryGetValue(key, out stored))
        {
            if (now < stored.ExpiresAt)
                return true;

            _reservations.Remove(key);
        }

        stored = null;
        return false;
    }

    private Counter GetOrCreate(CounterKey key, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        // Like the Redis key, a counter gets its expiry when created and keeps it, however often it is counted in.
        if (Find(key, now) is { } counter)
            return counter;

        return _counters[key] = new Counter(expiresAt);
    }

    /// <summary>Finds a live counter and, as Redis does on access, drops one that has expired.</summary>
    private Counter? Find(CounterKey key, DateTimeOffset now)
    {
        if (_counters.TryGetValue(key, out var counter))
        {
            if (now < counter.ExpiresAt)
                return counter;

            _counters.Remove(key);
        }

        return null;
    }

    private void SweepExpired(DateTimeOffset now)
    {
        if (now < _nextSweepAt)
            return;

        _nextSweepAt = now + SweepInterval;
        foreach (var (key, counter) in _counters)
        {
            if (now >= counter.ExpiresAt)
                _counters.Remove(key);
        }

        foreach (var (key, stored) in _reservations)
        {
            if (now >= stored.ExpiresAt)
                _reservations.Remove(key);
        }

        foreach (var tenantId in _slots.Keys.ToList())
            TakenSlots(tenantId, now);
    }

    /// <summary>
    /// A tenant's counter for one window; minute ids (12 digits), day ids (8) and month ids (6) never collide.
    /// </summary>
    private readonly record struct CounterKey(string TenantId, string WindowId);

    private readonly record struct ReservationKey(string TenantId, Guid InferenceId);

    private sealed class Counter(DateTimeOffset expiresAt)
    {
        public DateTimeOffset ExpiresAt { get; } = expiresAt;

        public long Used { get; set; }

        public long Reserved { get; set; }

        /// <summary>Requests admitted in the window; counted in minute windows only.</summary>
        public long Requests { get; set; }

        public WindowCount Count => new(Used, Reserved);
    }

    private sealed record StoredReservation(ReservationRecord Record, DateTimeOffset ExpiresAt);
}
