using CsCheck;
using Inference.Server.Quota;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Quota;

/// <summary>
/// Random sequences of reservations, settlements, releases, redeliveries and clock moves (seconds to days, across minute,
/// day and month edges) held to a model that only keeps a list of reservations and sums them: after every step the
/// ledger's usage equals the model's sums, and every decision and settlement equals the model's. Each reservation's
/// concurrency slot has a random deadline (none, already due, or seconds to a day ahead), and the model counts a slot
/// only while its reservation is reserved and its expiry ahead, so slots that expire unreleased are covered too.
/// </summary>
public abstract class QuotaLedgerModelSpecs
{
    /// <summary>90 seconds before a month ends, so that short sequences already cross every kind of edge.</summary>
    private static readonly DateTimeOffset Start = new(2032, 1, 31, 23, 58, 30, TimeSpan.Zero);

    private static readonly QuotaPlan Plan = new()
    {
        RequestsPerMinute = 6,
        TokensPerMinute = 1_000,
        TokensPerDay = 3_000,
        TokensPerMonth = 6_000,
        MaxConcurrent = 4,
    };

    /// <summary>Seconds from the decision to the slot's deadline; -1: no deadline, the slot lasts the slot lifetime.</summary>
    private static readonly Gen<long> SlotSeconds = Gen.OneOf(-1L, 0L, 1L, 30L, 61L, 600L, 3_600L, 86_400L);

    private static readonly TimeSpan SlotLifetime = TimeSpan.FromMinutes(10);

    private static readonly Gen<Step> Steps = Gen.Frequency(
        (6, Gen.Select(Gen.Long[0, 1_200], SlotSeconds, (tokens, slot) => new Step(StepKind.Reserve, tokens, 0, slot))),
        (2, Gen.Select(Gen.Int[0, 1_000], Gen.Long[0, 1_200], SlotSeconds,
            (index, tokens, slot) => new Step(StepKind.Redeliver, tokens, index, slot))),
        (4, Gen.Select(Gen.Int[0, 1_000], Gen.Long[0, 1_500], (index, tokens) => new Step(StepKind.Settle, tokens, index))),
        (2, Gen.Int[0, 1_000].Select(index => new Step(StepKind.Release, 0, index))),
        (3, Gen.OneOf(1L, 7L, 25L, 59L, 61L, 3_599L, 86_399L, 86_400L, 5 * 86_400L, 20 * 86_400L)
            .Select(seconds => new Step(StepKind.Wait, seconds, 0))));

    private static readonly TimeSpan Retention = TimeSpan.FromDays(400);

    protected abstract int Iterations { get; }

    /// <summary>A fresh, empty ledger on <paramref name="clock"/>, and what removes it afterwards.</summary>
    protected abstract (IQuotaLedger Ledger, Func<Task> Dispose) Create(TimeProvider clock, QuotaOptions options);

    [Fact]
    public Task The_ledger_agrees_with_a_model_that_sums_its_reservations() =>
        Steps.Array[1, 60].SampleAsync(RunAsync, iter: Iterations, threads: 4, print: steps => string.Join(", ", steps));

    private async Task RunAsync(Step[] steps)
    {
        var clock = new ManualTimeProvider(Start);
        var (ledger, dispose) = Create(clock, new QuotaOptions
        {
            KeyPrefix = "quota-model-" + Guid.NewGuid().ToString("N"),
            ReservationRetention = Retention,
            SlotLifetime = SlotLifetime,
        });
        var model = new Model();
        try
        {
            foreach (var step in steps)
            {
                var now = clock.GetUtcNow();
                switch (step.Kind)
                {
                    case StepKind.Reserve:
                    {
                        var id = Guid.NewGuid();
                        var slotExpiresAt = step.SlotExpiresAt(now);
                        var decision = await ledger.ReserveAsync(
                            new QuotaReservation("tenant", id, step.Tokens, slotExpiresAt), Plan);
                        Assert.Equal(model.Reserve(id, step.Tokens, now, slotExpiresAt ?? now + SlotLifetime), decision);
                        break;
                    }

                    case StepKind.Redeliver when model.Count > 0:
                    {
                        var known = model.At(step.Index);
                        var decision = await ledger.ReserveAsync(
                            new QuotaReservation("tenant", known.Id, step.Tokens, step.SlotExpiresAt(now)), Plan);
                        Assert.Equal(known.Decision, decision);
                        break;
                    }

                    case StepKind.Settle:
                    {
                        var id = model.Count > 0 && step.Index % 8 != 0 ? model.At(step.Index).Id : Guid.NewGuid();
                        var expected = model.Finish(id, ReservationState.Settled, step.Tokens);
                        Assert.Equal(expected, await ledger.SettleAsync("tenant", id, step.Tokens));
                        break;
                    }

                    case StepKind.Release:
                    {
                        var id = model.Count > 0 && step.Index % 8 != 0 ? model.At(step.Index).Id : Guid.NewGuid();
                        var expected = model.Finish(id, ReservationState.Released, 0);
                        Assert.Equal(expected, await ledger.ReleaseAsync("tenant", id));
                        break;
                    }

                    case StepKind.Wait:
                        clock.Advance(TimeSpan.FromSeconds(step.Tokens));
                        break;

                    default:
                        break;
                }

                Assert.Equal(model.Usage(clock.GetUtcNow()), await ledger.GetUsageAsync("tenant"));
            }
        }
        finally
        {
            await dispose();
        }
    }

    private enum StepKind
    {
        Reserve,
        Redeliver,
        Settle,
        Release,
        Wait,
    }

    /// <summary>
    /// One step; <see cref="Tokens"/> is the tokens asked or charged, or the seconds waited; <see cref="Slot"/> the
    /// seconds to a reservation's deadline (see <see cref="SlotSeconds"/>).
    /// </summary>
    private readonly record struct Step(StepKind Kind, long Tokens, int Index, long Slot = -1)
    {
        public DateTimeOffset? SlotExpiresAt(DateTimeOffset now) => Slot < 0 ? null : now.AddSeconds(Slot);

        public override string ToString() => Kind switch
        {
            StepKind.Reserve => $"reserve {Tokens} slot {Slot} s",
            StepKind.Redeliver => $"redeliver #{Index} slot {Slot} s",
            StepKind.Settle => $"settle #{Index} with {Tokens}",
            StepKind.Release => $"release #{Index}",
            _ => $"wait {Tokens} s",
        };
    }

    private sealed class Entry(Guid id, long tokens, DateTimeOffset at, DateTimeOffset slotExpiresAt, QuotaDecision decision)
    {
        public DateTimeOffset SlotExpiresAt { get; } = slotExpiresAt;

        public Guid Id { get; } = id;

        public long Tokens { get; } = tokens;

        public DateTimeOffset At { get; } = at;

        public QuotaDecision Decision { get; } = decision;

        public ReservationState State { get; set; } = decision.IsReserved ? ReservationState.Reserved : ReservationState.Rejected;

        public long Charged { get; set; }

        /// <summary>What this reservation puts in a window it was counted in: reserved until it ends, then the charge.</summary>
        public (long Used, long Reserved) Counted => State switch
        {
            ReservationState.Reserved => (0, Tokens),
            ReservationState.Settled => (Charged, 0),
            _ => (0, 0),
        };
    }

    /// <summary>The reservations, and every window computed by summing the admitted ones that fall in it.</summary>
    private sealed class Model
    {
        private readonly List<Entry> _entries = [];

        public int Count => _entries.Count;

        public Entry At(int index) => _entries[index % _entries.Count];

        public QuotaDecision Reserve(Guid id, long tokens, DateTimeOffset now, DateTimeOffset slotExpiresAt)
        {
            var (minute, day, month) = Windows(now);
            var requests = Admitted(minute, Minute).Count();
            var minuteTotal = Total(minute, Minute);
            var dayTotal = Total(day, Day);
            var monthTotal = Total(month, Month);
            var concurrent = Slots(now);

            QuotaRejection? rejection =
                tokens > Plan.TokensPerMonth ? new(QuotaLimitKind.TokensPerMonth, 6_000, monthTotal, tokens, null)
                : tokens > Plan.TokensPerDay ? new(QuotaLimitKind.TokensPerDay, 3_000, dayTotal, tokens, null)
                : tokens > Plan.TokensPerMinute ? new(QuotaLimitKind.TokensPerMinute, 1_000, minuteTotal, tokens, null)
                : monthTotal + tokens > 6_000 ? new(QuotaLimitKind.TokensPerMonth, 6_000, monthTotal, tokens, month.AddMonths(1) - now)
                : dayTotal + tokens > 3_000 ? new(QuotaLimitKind.TokensPerDay, 3_000, dayTotal, tokens, day.AddDays(1) - now)
                : minuteTotal + tokens > 1_000 ? new(QuotaLimitKind.TokensPerMinute, 1_000, minuteTotal, tokens, minute.AddMinutes(1) - now)
                : requests + 1 > 6 ? new(QuotaLimitKind.RequestsPerMinute, 6, requests, 1, minute.AddMinutes(1) - now)
                : concurrent + 1 > 4 ? new(QuotaLimitKind.Concurrency, 4, concurrent, 1, TimeSpan.FromSeconds(1))
                : null;

            var decision = rejection is null ? QuotaDecision.Reserved(tokens) : QuotaDecision.Rejected(tokens, rejection);
            _entries.Add(new Entry(id, tokens, now, slotExpiresAt, decision));
            return decision;
        }

        public QuotaSettlement Finish(Guid id, ReservationState state, long charged)
        {
            if (_entries.Find(x => x.Id == id) is not { } entry)
                return new QuotaSettlement(QuotaSettlementOutcome.NotReserved, 0, 0);

            switch (entry.State)
            {
                case ReservationState.Rejected:
                    return new QuotaSettlement(QuotaSettlementOutcome.WasRejected, entry.Tokens, 0);
                case ReservationState.Settled:
                    return new QuotaSettlement(QuotaSettlementOutcome.AlreadySettled, entry.Tokens, entry.Charged);
                case ReservationState.Released:
                    return new QuotaSettlement(QuotaSettlementOutcome.AlreadyReleased, entry.Tokens, 0);
                default:
                    (entry.State, entry.Charged) = (state, charged);
                    return new QuotaSettlement(QuotaSettlementOutcome.Applied, entry.Tokens, charged);
            }
        }

        public QuotaUsage Usage(DateTimeOffset now)
        {
            var (minute, day, month) = Windows(now);
            return new QuotaUsage(
                new QuotaWindowUsage(Admitted(minute, Minute).Count(), 0, minute.AddMinutes(1)),
                Window(minute, Minute, minute.AddMinutes(1)),
                Window(day, Day, day.AddDays(1)),
                Window(month, Month, month.AddMonths(1)),
                new QuotaWindowUsage(Slots(now), 0, null));
        }

        /// <summary>A slot is taken until its reservation ends or its expiry comes, whichever is first.</summary>
        private int Slots(DateTimeOffset now) =>
            _entries.Count(x => x.State == ReservationState.Reserved && now < x.SlotExpiresAt);

        private QuotaWindowUsage Window(DateTimeOffset start, Func<DateTimeOffset, DateTimeOffset> of, DateTimeOffset end)
        {
            var counted = Admitted(start, of).Select(x => x.Counted).ToList();
            return new QuotaWindowUsage(counted.Sum(x => x.Used), counted.Sum(x => x.Reserved), end);
        }

        private long Total(DateTimeOffset start, Func<DateTimeOffset, DateTimeOffset> of) =>
            Admitted(start, of).Sum(x => x.Counted.Used + x.Counted.Reserved);

        private IEnumerable<Entry> Admitted(DateTimeOffset start, Func<DateTimeOffset, DateTimeOffset> of) =>
            _entries.Where(x => x.Decision.IsReserved && of(x.At) == start);

        private static (DateTimeOffset Minute, DateTimeOffset Day, DateTimeOffset Month) Windows(DateTimeOffset now) =>
            (Minute(now), Day(now), Month(now));

        private static DateTimeOffset Minute(DateTimeOffset t) => new(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero);

        private static DateTimeOffset Day(DateTimeOffset t) => new(t.Year, t.Month, t.Day, 0, 0, 0, TimeSpan.Zero);

        private static DateTimeOffset Month(DateTimeOffset t) => new(t.Year, t.Month, 1, 0, 0, 0, TimeSpan.Zero);
    }
}

/// <summary>The model on the in-process ledger: many sequences, as they cost microseconds.</summary>
public sealed class InProcessQuotaLedgerModelSpecs : QuotaLedgerModelSpecs
{
    protected override int Iterations => 10_000;

    protected override (IQuotaLedger Ledger, Func<Task> Dispose) Create(TimeProvider clock, QuotaOptions options) =>
        (new InProcessQuotaLedger(new ScriptedQuotaSnapshotSource(), Options.Create(options), clock), () => Task.CompletedTask);
}

/// <summary>The model on Redis: fewer sequences (each step is a round trip), each under a key prefix of its own.</summary>
public sealed class RedisQuotaLedgerModelSpecs(RedisConnectionFixture redis)
    : QuotaLedgerModelSpecs, IClassFixture<RedisConnectionFixture>
{
    protected override int Iterations => 400;

    protected override (IQuotaLedger Ledger, Func<Task> Dispose) Create(TimeProvider clock, QuotaOptions options) =>
        (new RedisQuotaLedger(redis.Connection, new ScriptedQuotaSnapshotSource(), Options.Create(options), clock),
            () => redis.DeleteKeysAsync(options.KeyPrefix));
}
