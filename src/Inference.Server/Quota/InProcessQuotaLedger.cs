using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;

namespace Inference.Server.Quota;

/// <summary>
/// The quota ledger of the embedded single-process mode: the semantics of <see cref="RedisQuotaLedger"/>, counters
/// and reservations kept in memory (and lost on restart). Counters and reservations expire at the same instants as
/// their Redis keys would, measured on the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class InProcessQuotaLedger : IQuotaLedger
{
    // Expired entries are ignored when read; the sweep only bounds memory, so once a minute is plenty.
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _reservationRetention;
    private readonly Lock _gate = new();
    private readonly Dictionary<CounterKey, Counter> _counters = [];
    private readonly Dictionary<ReservationKey, StoredReservation> _reservations = [];
    private DateTimeOffset _nextSweepAt = DateTimeOffset.MinValue;

    public InProcessQuotaLedger(IOptions<QuotaOptions> options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _timeProvider = timeProvider;
        _reservationRetention = options.Value.ReservationRetention;
    }

    public Task<QuotaDecision> ReserveAsync(
        QuotaReservation reservation,
        QuotaLimits limits,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(limits);
        var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
        var reservationKey = new ReservationKey(reservation.TenantId, reservation.InferenceId);
        var minuteKey = new CounterKey(reservation.TenantId, windows.MinuteId);
        var dayKey = new CounterKey(reservation.TenantId, windows.DayId);

        lock (_gate)
        {
            SweepExpired(windows.Now);
            if (TryGetReservation(reservationKey, windows.Now, out var existing))
                return Task.FromResult(existing.Record.Decision);

            var rejection = QuotaRules.Check(
                reservation.Tokens,
                limits,
                CountedTokens(minuteKey, windows.Now),
                CountedTokens(dayKey, windows.Now),
                windows);

            QuotaDecision decision;
            if (rejection is null)
            {
                Count(minuteKey, reservation.Tokens, windows.MinuteCounterExpiresAt, windows.Now);
                Count(dayKey, reservation.Tokens, windows.DayCounterExpiresAt, windows.Now);
                decision = QuotaDecision.Reserved(reservation.Tokens);
            }
            else
            {
                decision = QuotaDecision.Rejected(reservation.Tokens, rejection);
            }

            var record = new ReservationRecord(
                reservation.TenantId,
                reservation.InferenceId,
                decision.IsReserved ? ReservationState.Reserved : ReservationState.Rejected,
                decision,
                windows.MinuteStart,
                windows.DayStart,
                windows.Now,
                ChargedTokens: null,
                FinishedAt: null);
            _reservations[reservationKey] = new StoredReservation(record, windows.Now + _reservationRetention);
            return Task.FromResult(decision);
        }
    }

    public Task<QuotaSettlement> SettleAsync(
        string tenantId,
        Guid inferenceId,
        long actualTokens,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(actualTokens);
        return Task.FromResult(Finish(tenantId, inferenceId, ReservationState.Settled, actualTokens));
    }

    public Task<QuotaSettlement> ReleaseAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken cancellationToken = default) =>
        Task.FromResult(Finish(tenantId, inferenceId, ReservationState.Released, chargedTokens: 0));

    public Task<QuotaUsage> GetUsageAsync(string tenantId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
        lock (_gate)
        {
            return Task.FromResult(new QuotaUsage(
                CountedTokens(new CounterKey(tenantId, windows.MinuteId), windows.Now),
                CountedTokens(new CounterKey(tenantId, windows.DayId), windows.Now),
                windows.MinuteEnd,
                windows.DayEnd));
        }
    }

    public Task<ReservationRecord?> GetReservationAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var now = QuotaWindows.At(_timeProvider.GetUtcNow()).Now;
        lock (_gate)
        {
            return Task.FromResult(
                TryGetReservation(new ReservationKey(tenantId, inferenceId), now, out var stored) ? stored.Record : null);
        }
    }

    private QuotaSettlement Finish(string tenantId, Guid inferenceId, ReservationState finalState, long chargedTokens)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
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

            // Correct the windows the tokens were counted in, never the current ones.
            var delta = chargedTokens - reservedTokens;
            Adjust(new CounterKey(tenantId, QuotaWindows.FormatMinuteId(record.MinuteWindow)), delta, now);
            Adjust(new CounterKey(tenantId, QuotaWindows.FormatDayId(record.DayWindow)), delta, now);

            _reservations[reservationKey] = stored with
            {
                Record = record with { State = finalState, ChargedTokens = chargedTokens, FinishedAt = now },
            };
            return new QuotaSettlement(QuotaSettlementOutcome.Applied, reservedTokens, chargedTokens);
        }
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

    private long CountedTokens(CounterKey key, DateTimeOffset now) =>
        TryGetCounter(key, now, out var counter) ? counter.Tokens : 0;

    private void Count(CounterKey key, long tokens, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        // Like the Redis key, a counter gets its expiry when created and keeps it, however often it is counted in.
        if (!TryGetCounter(key, now, out var counter))
            _counters[key] = counter = new Counter(expiresAt);

        counter.Tokens += tokens;
    }

    private void Adjust(CounterKey key, long delta, DateTimeOffset now)
    {
        // An expired window stays gone, as in Redis; a correction never takes a counter below zero.
        if (TryGetCounter(key, now, out var counter))
            counter.Tokens = Math.Max(0, counter.Tokens + delta);
    }

    /// <summary>Finds a live counter and, as Redis does on access, drops one that has expired.</summary>
    private bool TryGetCounter(CounterKey key, DateTimeOffset now, [NotNullWhen(true)] out Counter? counter)
    {
        if (_counters.TryGetValue(key, out counter))
        {
            if (now < counter.ExpiresAt)
                return true;

            _counters.Remove(key);
        }

        counter = null;
        return false;
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
    }

    /// <summary>A tenant's counter for one window; minute ids (12 digits) and day ids (8 digits) never collide.</summary>
    private readonly record struct CounterKey(string TenantId, string WindowId);

    private readonly record struct ReservationKey(string TenantId, Guid InferenceId);

    private sealed class Counter(DateTimeOffset expiresAt)
    {
        public DateTimeOffset ExpiresAt { get; } = expiresAt;

        public long Tokens { get; set; }
    }

    private sealed record StoredReservation(ReservationRecord Record, DateTimeOffset ExpiresAt);
}
