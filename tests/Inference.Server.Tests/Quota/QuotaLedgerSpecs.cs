using Inference.Server.Quota;

namespace Inference.Server.Tests.Quota;

/// <summary>
/// The behaviour every <see cref="IQuotaLedger"/> must have. Each implementation runs all of it through a derived
/// class, which is what keeps the Redis ledger and the in-process ledger interchangeable.
/// </summary>
public abstract class QuotaLedgerSpecs
{
    /// <summary>Mid-morning, 20 s into a minute: far from the day's edges unless a test moves there.</summary>
    protected static readonly DateTimeOffset Start = new(2031, 5, 17, 10, 15, 20, TimeSpan.Zero);

    private static readonly DateTimeOffset StartMinute = new(2031, 5, 17, 10, 15, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset StartDay = new(2031, 5, 17, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset StartMonth = new(2031, 5, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset NextMidnight = new(2031, 5, 18, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset NextMonth = new(2031, 6, 1, 0, 0, 0, TimeSpan.Zero);

    protected static readonly QuotaPlan Limits = new() { TokensPerMinute = 1_000, TokensPerDay = 10_000 };

    protected ManualTimeProvider Clock { get; } = new(Start);

    protected string Tenant { get; } = "tenant-a";

    /// <summary>What the database says when a ledger rebuilds; empty unless a spec fills it.</summary>
    protected ScriptedQuotaSnapshotSource Snapshots { get; } = new();

    protected abstract IQuotaLedger Ledger { get; }

    /// <summary>Loses everything the ledger holds, as a flushed Redis or a restarted process does.</summary>
    protected abstract Task LoseDataAsync();

    /// <summary>Moves the clock; a ledger whose store expires keys on its own clock must age them to match.</summary>
    protected virtual Task AdvanceAsync(TimeSpan duration)
    {
        Clock.Advance(duration);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_reservation_within_both_limits_is_counted_in_the_minute_and_the_day()
    {
        var decision = await ReserveAsync(Guid.NewGuid(), 300);

        Assert.True(decision.IsReserved);
        Assert.Equal(300, decision.Tokens);
        await AssertUsageAsync(minute: 300, day: 300);
    }

    [Fact]
    public async Task Reservations_may_fill_a_window_exactly_but_not_one_token_more()
    {
        Assert.True((await ReserveAsync(Guid.NewGuid(), 600)).IsReserved);
        Assert.True((await ReserveAsync(Guid.NewGuid(), 400)).IsReserved);

        var oneMore = await ReserveAsync(Guid.NewGuid(), 1);

        Assert.False(oneMore.IsReserved);
        Assert.Equal((1_000, 1), (oneMore.Rejection.Used, oneMore.Rejection.Requested));
        await AssertUsageAsync(minute: 1_000, day: 1_000);
    }

    [Fact]
    public async Task Overflowing_the_minute_is_rejected_until_the_minute_ends()
    {
        await ReserveAsync(Guid.NewGuid(), 700);

        var decision = await ReserveAsync(Guid.NewGuid(), 400);

        Assert.False(decision.IsReserved);
        Assert.Equal(
            new QuotaRejection(QuotaLimitKind.TokensPerMinute, 1_000, 700, 400, TimeSpan.FromSeconds(40)),
            decision.Rejection);
        Assert.Equal("rate_limit_tokens", decision.Rejection.Code);
        Assert.False(decision.Rejection.ExceedsLimit);
        await AssertUsageAsync(minute: 700, day: 700);

        await AdvanceAsync(TimeSpan.FromSeconds(40));
        Assert.True((await ReserveAsync(Guid.NewGuid(), 400)).IsReserved);
    }

    [Fact]
    public async Task Overflowing_the_day_is_rejected_until_utc_midnight()
    {
        var limits = Plan(1_000, 1_500);
        await ReserveAsync(Guid.NewGuid(), 1_000, limits);
        await AdvanceAsync(TimeSpan.FromMinutes(1));

        var decision = await ReserveAsync(Guid.NewGuid(), 600, limits);

        Assert.False(decision.IsReserved);
        Assert.Equal(
            new QuotaRejection(QuotaLimitKind.TokensPerDay, 1_500, 1_000, 600, NextMidnight - Start.AddMinutes(1)),
            decision.Rejection);
        Assert.Equal("quota_daily_tokens", decision.Rejection.Code);

        await AdvanceAsync(NextMidnight - Clock.GetUtcNow());
        Assert.True((await ReserveAsync(Guid.NewGuid(), 600, limits)).IsReserved);
    }

    [Fact]
    public async Task When_both_windows_are_full_the_day_is_reported_because_only_its_reset_helps()
    {
        var limits = Plan(1_000, 1_000);
        await ReserveAsync(Guid.NewGuid(), 1_000, limits);

        var decision = await ReserveAsync(Guid.NewGuid(), 10, limits);

        Assert.Equal(QuotaLimitKind.TokensPerDay, decision.Rejection?.Limit);
        Assert.Equal(NextMidnight - Start, decision.Rejection?.RetryAfter);
    }

    [Theory]
    [InlineData(500, 10_000, QuotaLimitKind.TokensPerMinute)]
    [InlineData(0, 500, QuotaLimitKind.TokensPerDay)]
    public async Task A_request_larger_than_a_limit_can_never_fit_and_gets_no_retry_time(
        long tokensPerMinute,
        long tokensPerDay,
        QuotaLimitKind expectedLimit)
    {
        var decision = await ReserveAsync(Guid.NewGuid(), 501, Plan(tokensPerMinute, tokensPerDay));

        Assert.False(decision.IsReserved);
        Assert.Equal(new QuotaRejection(expectedLimit, 500, 0, 501, RetryAfter: null), decision.Rejection);
        Assert.True(decision.Rejection.ExceedsLimit);
        await AssertUsageAsync(minute: 0, day: 0);
    }

    [Fact]
    public async Task An_absent_limit_means_that_window_is_not_limited_but_still_counted()
    {
        var dayOnly = Plan(0, 1_000);
        Assert.True((await ReserveAsync(Guid.NewGuid(), 900, dayOnly)).IsReserved);
        Assert.Equal(QuotaLimitKind.TokensPerDay, (await ReserveAsync(Guid.NewGuid(), 200, dayOnly)).Rejection?.Limit);

        Assert.True((await ReserveAsync(Guid.NewGuid(), 5_000_000_000, QuotaPlan.Unlimited)).IsReserved);

        await AssertUsageAsync(minute: 5_000_000_900, day: 5_000_000_900);
    }

    [Fact]
    public async Task A_redelivered_reservation_returns_the_first_decision_and_counts_once()
    {
        var inferenceId = Guid.NewGuid();
        var first = await ReserveAsync(inferenceId, 300);
        await AdvanceAsync(TimeSpan.FromMinutes(1));

        var again = await ReserveAsync(inferenceId, 900, Plan(100, 100));

        Assert.Equal(first, again);
        Assert.Equal(QuotaDecision.Reserved(300), again);
        await AssertUsageAsync(minute: 0, day: 300);
    }

    [Fact]
    public async Task A_redelivered_rejection_stays_rejected_even_when_it_would_now_fit()
    {
        await ReserveAsync(Guid.NewGuid(), 900);
        var inferenceId = Guid.NewGuid();
        var first = await ReserveAsync(inferenceId, 200);
        await AdvanceAsync(TimeSpan.FromMinutes(1));

        var again = await ReserveAsync(inferenceId, 200);

        Assert.False(first.IsReserved);
        Assert.Equal(first, again);
        await AssertUsageAsync(minute: 0, day: 900);
    }

    [Fact]
    public async Task Settling_with_fewer_tokens_gives_the_unused_ones_back()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);

        var settlement = await Ledger.SettleAsync(Tenant, inferenceId, 120);

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.Applied, 500, 120), settlement);
        Assert.True(settlement.Applied);
        await AssertUsageAsync(minute: 120, day: 120);
    }

    [Fact]
    public async Task Settling_with_more_tokens_than_reserved_charges_the_difference()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);

        await Ledger.SettleAsync(Tenant, inferenceId, 800);

        await AssertUsageAsync(minute: 800, day: 800);
    }

    [Fact]
    public async Task Settling_twice_applies_once_and_repeats_the_first_charge()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);
        await Ledger.SettleAsync(Tenant, inferenceId, 120);

        var again = await Ledger.SettleAsync(Tenant, inferenceId, 300);

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.AlreadySettled, 500, 120), again);
        Assert.False(again.Applied);
        await AssertUsageAsync(minute: 120, day: 120);
    }

    [Fact]
    public async Task Releasing_gives_back_every_reserved_token()
    {
        var released = Guid.NewGuid();
        await ReserveAsync(released, 500);
        await ReserveAsync(Guid.NewGuid(), 200);

        var settlement = await Ledger.ReleaseAsync(Tenant, released);

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.Applied, 500, 0), settlement);
        await AssertUsageAsync(minute: 200, day: 200);
    }

    [Fact]
    public async Task Releasing_twice_applies_once()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);
        await ReserveAsync(Guid.NewGuid(), 200);
        await Ledger.ReleaseAsync(Tenant, inferenceId);

        var again = await Ledger.ReleaseAsync(Tenant, inferenceId);

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.AlreadyReleased, 500, 0), again);
        await AssertUsageAsync(minute: 200, day: 200);
    }

    [Fact]
    public async Task Releasing_after_settling_changes_nothing()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);
        await Ledger.SettleAsync(Tenant, inferenceId, 120);

        var release = await Ledger.ReleaseAsync(Tenant, inferenceId);

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.AlreadySettled, 500, 120), release);
        await AssertUsageAsync(minute: 120, day: 120);
    }

    [Fact]
    public async Task Settling_after_releasing_changes_nothing()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);
        await Ledger.ReleaseAsync(Tenant, inferenceId);

        var settle = await Ledger.SettleAsync(Tenant, inferenceId, 300);

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.AlreadyReleased, 500, 0), settle);
        await AssertUsageAsync(minute: 0, day: 0);
    }

    [Fact]
    public async Task Settling_or_releasing_an_unknown_inference_changes_nothing()
    {
        await ReserveAsync(Guid.NewGuid(), 100);

        var settle = await Ledger.SettleAsync(Tenant, Guid.NewGuid(), 0);
        var release = await Ledger.ReleaseAsync(Tenant, Guid.NewGuid());

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.NotReserved, 0, 0), settle);
        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.NotReserved, 0, 0), release);
        await AssertUsageAsync(minute: 100, day: 100);
    }

    [Fact]
    public async Task Settling_or_releasing_a_rejected_reservation_gives_back_nothing()
    {
        await ReserveAsync(Guid.NewGuid(), 900);
        var rejected = Guid.NewGuid();
        await ReserveAsync(rejected, 200);

        var settle = await Ledger.SettleAsync(Tenant, rejected, 0);
        var release = await Ledger.ReleaseAsync(Tenant, rejected);

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.WasRejected, 200, 0), settle);
        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.WasRejected, 200, 0), release);
        await AssertUsageAsync(minute: 900, day: 900);
    }

    [Fact]
    public async Task Another_tenant_cannot_settle_a_reservation()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);

        var settlement = await Ledger.SettleAsync("tenant-b", inferenceId, 0);

        Assert.Equal(QuotaSettlementOutcome.NotReserved, settlement.Outcome);
        await AssertUsageAsync(minute: 500, day: 500);
        Assert.True((await Ledger.SettleAsync(Tenant, inferenceId, 0)).Applied);
    }

    [Fact]
    public async Task Tenants_have_windows_of_their_own()
    {
        await ReserveAsync(Guid.NewGuid(), 1_000);

        var other = await Ledger.ReserveAsync(new QuotaReservation("tenant-b", Guid.NewGuid(), 1_000), Limits);

        Assert.True(other.IsReserved);
        await AssertUsageAsync(minute: 1_000, day: 1_000);
    }

    [Fact]
    public async Task A_new_minute_starts_empty_at_its_first_instant_while_the_day_keeps_counting()
    {
        await ReserveAsync(Guid.NewGuid(), 700);
        await AdvanceAsync(TimeSpan.FromSeconds(39.999));
        Assert.False((await ReserveAsync(Guid.NewGuid(), 700)).IsReserved);

        await AdvanceAsync(TimeSpan.FromMilliseconds(1));

        Assert.True((await ReserveAsync(Guid.NewGuid(), 700)).IsReserved);
        await AssertUsageAsync(minute: 700, day: 1_400);
    }

    [Fact]
    public async Task Settling_in_the_next_minute_corrects_the_minute_the_tokens_were_counted_in()
    {
        var earlier = Guid.NewGuid();
        await ReserveAsync(earlier, 600);
        await AdvanceAsync(TimeSpan.FromSeconds(40));
        await ReserveAsync(Guid.NewGuid(), 300);

        await Ledger.SettleAsync(Tenant, earlier, 100);

        await AssertUsageAsync(minute: 300, day: 400);
        Clock.SetUtcNow(StartMinute.AddSeconds(59));
        await AssertUsageAsync(minute: 100, day: 400);
    }

    [Fact]
    public async Task Settling_after_utc_midnight_corrects_the_day_the_tokens_were_counted_on()
    {
        await AdvanceAsync(NextMidnight.AddSeconds(-10) - Start);
        var yesterdays = Guid.NewGuid();
        await ReserveAsync(yesterdays, 600);
        await AdvanceAsync(TimeSpan.FromSeconds(20));
        await AssertUsageAsync(minute: 0, day: 0);
        await ReserveAsync(Guid.NewGuid(), 200);

        await Ledger.SettleAsync(Tenant, yesterdays, 150);

        await AssertUsageAsync(minute: 200, day: 200);
        Clock.SetUtcNow(NextMidnight.AddSeconds(-1));
        await AssertUsageAsync(minute: 150, day: 150);
    }

    [Fact]
    public async Task A_settlement_after_the_minute_expired_leaves_that_minute_gone()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 600);
        await AdvanceAsync(TimeSpan.FromMinutes(3));

        var settlement = await Ledger.SettleAsync(Tenant, inferenceId, 100);

        Assert.True(settlement.Applied);
        await AssertUsageAsync(minute: 0, day: 100);
        Clock.SetUtcNow(StartMinute.AddSeconds(59));
        await AssertUsageAsync(minute: 0, day: 100);
    }

    [Fact]
    public async Task Concurrent_reservations_admit_exactly_as_many_as_fit()
    {
        var limits = Plan(1_000, 0);

        var decisions = await RunConcurrentlyAsync(50, _ => ReserveAsync(Guid.NewGuid(), 75, limits));

        Assert.Equal(1_000 / 75, decisions.Count(decision => decision.IsReserved));
        await AssertUsageAsync(minute: 1_000 / 75 * 75, day: 1_000 / 75 * 75);
    }

    [Fact]
    public async Task Concurrent_redeliveries_reserve_and_settle_exactly_once()
    {
        var inferenceId = Guid.NewGuid();

        var decisions = await RunConcurrentlyAsync(50, _ => ReserveAsync(inferenceId, 500));
        var settlements = await RunConcurrentlyAsync(50, _ => Ledger.SettleAsync(Tenant, inferenceId, 100));

        Assert.All(decisions, decision => Assert.Equal(QuotaDecision.Reserved(500), decision));
        Assert.Single(settlements, settlement => settlement.Applied);
        Assert.All(
            settlements.Where(settlement => !settlement.Applied),
            settlement => Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.AlreadySettled, 500, 100), settlement));
        await AssertUsageAsync(minute: 100, day: 100);
    }

    [Fact]
    public async Task Usage_reports_the_current_windows_and_when_they_reset()
    {
        var minuteEnd = StartMinute.AddMinutes(1);
        Assert.Equal(
            new QuotaUsage(new(0, 0, minuteEnd), new(0, 0, minuteEnd), new(0, 0, NextMidnight), new(0, 0, NextMonth),
                new(0, 0, null)),
            await Ledger.GetUsageAsync(Tenant));

        var settled = Guid.NewGuid();
        await ReserveAsync(settled, 300);
        await ReserveAsync(Guid.NewGuid(), 200);
        await Ledger.SettleAsync(Tenant, settled, 120);

        Assert.Equal(
            new QuotaUsage(new(2, 0, minuteEnd), new(120, 200, minuteEnd), new(120, 200, NextMidnight),
                new(120, 200, NextMonth), new(1, 0, null)),
            await Ledger.GetUsageAsync(Tenant));
    }

    [Fact]
    public async Task The_reservation_record_holds_the_actual_usage_once_settled()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);
        var reserved = new ReservationRecord(
            Tenant,
            inferenceId,
            ReservationState.Reserved,
            QuotaDecision.Reserved(500),
            StartMinute,
            StartDay,
            StartMonth,
            Start,
            ChargedTokens: null,
            FinishedAt: null);
        Assert.Equal(reserved, await Ledger.GetReservationAsync(Tenant, inferenceId));

        await AdvanceAsync(TimeSpan.FromSeconds(5));
        await Ledger.SettleAsync(Tenant, inferenceId, 420);

        Assert.Equal(
            reserved with { State = ReservationState.Settled, ChargedTokens = 420, FinishedAt = Start.AddSeconds(5) },
            await Ledger.GetReservationAsync(Tenant, inferenceId));
    }

    [Fact]
    public async Task A_rejection_is_recorded_with_its_decision()
    {
        var inferenceId = Guid.NewGuid();
        var decision = await ReserveAsync(inferenceId, 2_000);

        var record = await Ledger.GetReservationAsync(Tenant, inferenceId);

        Assert.NotNull(record);
        Assert.Equal(ReservationState.Rejected, record.State);
        Assert.Equal(decision, record.Decision);
        Assert.Null(record.ChargedTokens);
    }

    [Fact]
    public async Task An_unknown_inference_has_no_record()
    {
        await ReserveAsync(Guid.NewGuid(), 100);

        Assert.Null(await Ledger.GetReservationAsync(Tenant, Guid.NewGuid()));
    }

    [Fact]
    public async Task Reservations_are_remembered_for_the_retention_period_and_then_forgotten()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 100);

        // A minute short, not a second: Redis's own clock keeps running while the spec does, and a busy machine can
        // stall a second between moving the expiry and reading the key.
        await AdvanceAsync(new QuotaOptions().ReservationRetention - TimeSpan.FromMinutes(1));
        Assert.NotNull(await Ledger.GetReservationAsync(Tenant, inferenceId));

        await AdvanceAsync(TimeSpan.FromMinutes(1));
        Assert.Null(await Ledger.GetReservationAsync(Tenant, inferenceId));
        Assert.Equal(QuotaSettlementOutcome.NotReserved, (await Ledger.SettleAsync(Tenant, inferenceId, 0)).Outcome);
    }

    [Fact]
    public async Task Requests_per_minute_count_admitted_requests_and_settling_does_not_give_one_back()
    {
        var plan = new QuotaPlan { RequestsPerMinute = 2 };
        var first = Guid.NewGuid();
        Assert.True((await ReserveAsync(first, 10, plan)).IsReserved);
        Assert.True((await ReserveAsync(Guid.NewGuid(), 10, plan)).IsReserved);
        await Ledger.SettleAsync(Tenant, first, 10);

        var third = await ReserveAsync(Guid.NewGuid(), 10, plan);

        Assert.Equal(
            new QuotaRejection(QuotaLimitKind.RequestsPerMinute, 2, 2, 1, TimeSpan.FromSeconds(40)),
            third.Rejection);
        Assert.Equal("rate_limit_requests", third.Rejection?.Code);
        Assert.Equal(new QuotaWindowUsage(2, 0, StartMinute.AddMinutes(1)), (await Ledger.GetUsageAsync(Tenant)).Requests);

        await AdvanceAsync(TimeSpan.FromSeconds(40));
        Assert.True((await ReserveAsync(Guid.NewGuid(), 10, plan)).IsReserved);
    }

    [Fact]
    public async Task Overflowing_the_month_is_rejected_until_the_month_ends()
    {
        var plan = new QuotaPlan { TokensPerMonth = 1_000 };
        Assert.True((await ReserveAsync(Guid.NewGuid(), 800, plan)).IsReserved);
        await AdvanceAsync(TimeSpan.FromDays(1));

        var decision = await ReserveAsync(Guid.NewGuid(), 300, plan);

        Assert.Equal(
            new QuotaRejection(QuotaLimitKind.TokensPerMonth, 1_000, 800, 300, NextMonth - Start.AddDays(1)),
            decision.Rejection);
        Assert.Equal("quota_monthly_tokens", decision.Rejection?.Code);
        Assert.Equal(new QuotaWindowUsage(0, 800, NextMonth), (await Ledger.GetUsageAsync(Tenant)).MonthTokens);
    }

    [Fact]
    public async Task A_request_larger_than_the_month_can_never_fit_and_the_month_is_reported_first()
    {
        var plan = new QuotaPlan { TokensPerMinute = 100, TokensPerDay = 200, TokensPerMonth = 300 };

        var decision = await ReserveAsync(Guid.NewGuid(), 301, plan);

        Assert.Equal(new QuotaRejection(QuotaLimitKind.TokensPerMonth, 300, 0, 301, null), decision.Rejection);
        Assert.True(decision.Rejection?.ExceedsLimit);
    }

    [Fact]
    public async Task The_day_and_the_month_roll_over_at_utc_midnight_of_the_months_last_day()
    {
        var lastSecond = new DateTimeOffset(2032, 1, 31, 23, 59, 59, TimeSpan.Zero);
        var february = new DateTimeOffset(2032, 2, 1, 0, 0, 0, TimeSpan.Zero);
        Clock.SetUtcNow(lastSecond);
        var plan = new QuotaPlan { TokensPerDay = 1_000, TokensPerMonth = 1_500 };
        var january = Guid.NewGuid();
        Assert.True((await ReserveAsync(january, 900, plan)).IsReserved);
        Assert.Equal(
            new QuotaRejection(QuotaLimitKind.TokensPerDay, 1_000, 900, 200, TimeSpan.FromSeconds(1)),
            (await ReserveAsync(Guid.NewGuid(), 200, plan)).Rejection);
        Assert.Equal(
            new QuotaRejection(QuotaLimitKind.TokensPerMonth, 1_500, 900, 700, TimeSpan.FromSeconds(1)),
            (await ReserveAsync(Guid.NewGuid(), 700, plan)).Rejection);

        await AdvanceAsync(TimeSpan.FromSeconds(1));

        var usage = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal(new QuotaWindowUsage(0, 0, february.AddDays(1)), usage.DayTokens);
        Assert.Equal(new QuotaWindowUsage(0, 0, february.AddMonths(1)), usage.MonthTokens);
        Assert.True((await ReserveAsync(Guid.NewGuid(), 1_000, plan)).IsReserved);

        // January's request ends in February: its correction goes to January's day and month.
        await Ledger.SettleAsync(Tenant, january, 50);

        usage = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal((0, 1_000), (usage.DayTokens.Used, usage.DayTokens.Reserved));
        Assert.Equal((0, 1_000), (usage.MonthTokens.Used, usage.MonthTokens.Reserved));
        Clock.SetUtcNow(lastSecond.AddMilliseconds(500));
        usage = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal(new QuotaWindowUsage(50, 0, february), usage.DayTokens);
        Assert.Equal(new QuotaWindowUsage(50, 0, february), usage.MonthTokens);
    }

    [Fact]
    public async Task Reserved_and_settled_tokens_are_kept_apart_in_every_window()
    {
        var settled = Guid.NewGuid();
        await ReserveAsync(settled, 500);
        await ReserveAsync(Guid.NewGuid(), 200);

        await Ledger.SettleAsync(Tenant, settled, 120);

        var usage = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal(
            new[] { (120L, 200L), (120L, 200L), (120L, 200L) },
            new[] { usage.MinuteTokens, usage.DayTokens, usage.MonthTokens }.Select(x => (x.Used, x.Reserved)));
    }

    [Fact]
    public async Task Concurrent_reservations_of_random_sizes_never_admit_more_than_the_minute_allows()
    {
        var plan = new QuotaPlan { TokensPerMinute = 1_000 };
        var random = new Random(20310517);
        var sizes = Enumerable.Range(0, 64).Select(_ => (long)random.Next(1, 300)).ToArray();

        var decisions = await RunConcurrentlyAsync(64, index => ReserveAsync(Guid.NewGuid(), sizes[index], plan));

        var admitted = decisions.Where(x => x.IsReserved).Sum(x => x.Tokens);
        Assert.InRange(admitted, 1, 1_000);
        Assert.All(
            decisions.Where(x => !x.IsReserved),
            x => Assert.True(x.Rejection!.Used + x.Rejection!.Requested > 1_000, "rejected a request that fitted"));
        Assert.Equal(new QuotaWindowUsage(0, admitted, StartMinute.AddMinutes(1)),
            (await Ledger.GetUsageAsync(Tenant)).MinuteTokens);
    }

    [Fact]
    public async Task Concurrency_admits_exactly_the_limit_and_a_finished_request_frees_its_slot()
    {
        var plan = new QuotaPlan { MaxConcurrent = 3 };
        var ids = Enumerable.Range(0, 50).Select(_ => Guid.NewGuid()).ToArray();

        var decisions = await RunConcurrentlyAsync(50, index => ReserveAsync(ids[index], 10, plan));

        Assert.Equal(3, decisions.Count(x => x.IsReserved));
        Assert.All(
            decisions.Where(x => !x.IsReserved),
            x => Assert.Equal(new QuotaRejection(QuotaLimitKind.Concurrency, 3, 3, 1, TimeSpan.FromSeconds(1)), x.Rejection));
        Assert.Equal(new QuotaWindowUsage(3, 0, null), (await Ledger.GetUsageAsync(Tenant)).Concurrent);

        var admitted = ids.Where((_, index) => decisions[index].IsReserved).ToArray();
        await Ledger.ReleaseAsync(Tenant, admitted[0]);
        var more = await RunConcurrentlyAsync(10, _ => ReserveAsync(Guid.NewGuid(), 10, plan));

        Assert.Single(more, x => x.IsReserved);
        await Ledger.SettleAsync(Tenant, admitted[1], 5);
        Assert.Equal(new QuotaWindowUsage(2, 0, null), (await Ledger.GetUsageAsync(Tenant)).Concurrent);
    }

    [Fact]
    public async Task The_same_settlement_sent_eight_times_at_once_applies_once()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);

        var settlements = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Ledger.SettleAsync(Tenant, inferenceId, 100)));

        Assert.Single(settlements, x => x.Applied);
        Assert.All(settlements.Where(x => !x.Applied),
            x => Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.AlreadySettled, 500, 100), x));
        var usage = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal((100, 0, 0), (usage.DayTokens.Used, usage.DayTokens.Reserved, usage.Concurrent.Used));
    }

    [Fact]
    public async Task Racing_settlements_and_releases_of_one_reservation_apply_exactly_one()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 500);

        var results = await RunConcurrentlyAsync(16, index => index % 2 == 0
            ? Ledger.SettleAsync(Tenant, inferenceId, 100)
            : Ledger.ReleaseAsync(Tenant, inferenceId));

        var applied = Assert.Single(results, x => x.Applied);
        var usage = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal((applied.ChargedTokens, 0, 0), (usage.DayTokens.Used, usage.DayTokens.Reserved, usage.Concurrent.Used));
    }

    [Fact]
    public async Task After_losing_its_data_the_ledger_rebuilds_and_refuses_what_it_refused_before()
    {
        var dayPlan = new QuotaPlan { TokensPerDay = 3_000 };
        var monthPlan = new QuotaPlan { TokensPerMonth = 5_200 };
        var yesterday = Guid.NewGuid();
        await ReserveAsync(yesterday, 2_500, QuotaPlan.Unlimited);
        await Ledger.SettleAsync(Tenant, yesterday, 2_500);
        await AdvanceAsync(TimeSpan.FromDays(1));
        var today = Clock.GetUtcNow();
        var settled = Guid.NewGuid();
        await ReserveAsync(settled, 2_100, QuotaPlan.Unlimited);
        await Ledger.SettleAsync(Tenant, settled, 2_000);
        var open = Guid.NewGuid();
        await ReserveAsync(open, 500, QuotaPlan.Unlimited);
        var dayRefusal = (await ReserveAsync(Guid.NewGuid(), 600, dayPlan)).Rejection;
        var monthRefusal = (await ReserveAsync(Guid.NewGuid(), 300, monthPlan)).Rejection;
        var before = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal((QuotaLimitKind.TokensPerDay, QuotaLimitKind.TokensPerMonth), (dayRefusal?.Limit, monthRefusal?.Limit));
        // The database's billing record says the same.
        Snapshots.Settled.AddRange([new(Tenant, new DateOnly(2031, 5, 17), 2_500), new(Tenant, new DateOnly(2031, 5, 18), 2_000)]);
        Snapshots.Open.Add(new OpenReservation(Tenant, open, 500, today));

        await LoseDataAsync();
        var reads = Snapshots.Reads;

        Assert.Equal(dayRefusal, (await ReserveAsync(Guid.NewGuid(), 600, dayPlan)).Rejection);
        Assert.Equal(monthRefusal, (await ReserveAsync(Guid.NewGuid(), 300, monthPlan)).Rejection);
        Assert.Equal(reads + 1, Snapshots.Reads);
        Assert.Equal(before with { Requests = before.Requests with { Used = 1 }, MinuteTokens = before.MinuteTokens with { Used = 0 } },
            await Ledger.GetUsageAsync(Tenant));

        // The open request ends after the rebuild: its settlement finds the recreated reservation and corrects the windows.
        Assert.True((await Ledger.SettleAsync(Tenant, open, 100)).Applied);
        var after = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal(new QuotaWindowUsage(2_100, 0, NextMidnight.AddDays(1)), after.DayTokens);
        Assert.Equal(new QuotaWindowUsage(4_600, 0, NextMonth), after.MonthTokens);
        Assert.Equal(new QuotaWindowUsage(0, 0, null), after.Concurrent);
    }

    [Fact]
    public async Task A_settlement_that_comes_first_after_a_loss_rebuilds_and_finds_its_reservation()
    {
        var open = Guid.NewGuid();
        await ReserveAsync(open, 500);
        Snapshots.Open.Add(new OpenReservation(Tenant, open, 500, Start));
        await LoseDataAsync();

        var settlement = await Ledger.SettleAsync(Tenant, open, 200);

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.Applied, 500, 200), settlement);
        var usage = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal((200, 0, 200, 0, 0), (usage.DayTokens.Used, usage.DayTokens.Reserved, usage.MinuteTokens.Used,
            usage.MinuteTokens.Reserved, usage.Concurrent.Used));
    }

    [Fact]
    public async Task Concurrent_reservations_after_a_loss_rebuild_once()
    {
        Snapshots.Settled.Add(new(Tenant, new DateOnly(2031, 5, 17), 9_990));
        await LoseDataAsync();
        var reads = Snapshots.Reads;

        var decisions = await RunConcurrentlyAsync(20, _ => ReserveAsync(Guid.NewGuid(), 5));

        Assert.Equal(2, decisions.Count(x => x.IsReserved));
        Assert.Equal(reads + 1, Snapshots.Reads);
    }

    [Fact]
    public async Task Reading_usage_after_a_loss_reports_what_is_there_and_does_not_rebuild()
    {
        await ReserveAsync(Guid.NewGuid(), 300);
        Snapshots.Settled.Add(new(Tenant, new DateOnly(2031, 5, 17), 300));
        await LoseDataAsync();
        var reads = Snapshots.Reads;

        var usage = await Ledger.GetUsageAsync(Tenant);

        Assert.Equal((0, 0), (usage.DayTokens.Total, usage.MonthTokens.Total));
        Assert.Equal(reads, Snapshots.Reads);
        await Ledger.RestoreAsync();
        Assert.Equal(new QuotaWindowUsage(300, 0, NextMidnight), (await Ledger.GetUsageAsync(Tenant)).DayTokens);
        await Ledger.RestoreAsync();
        Assert.Equal(reads + 1, Snapshots.Reads);
    }

    [Fact]
    public async Task A_slot_whose_release_never_comes_is_free_again_after_its_expiry()
    {
        var plan = new QuotaPlan { MaxConcurrent = 1 };
        var lost = Guid.NewGuid();
        Assert.True((await ReserveAsync(lost, 10, plan, Start.AddSeconds(10))).IsReserved);

        var refused = await ReserveAsync(Guid.NewGuid(), 10, plan, Start.AddMinutes(10));

        Assert.Equal(new QuotaRejection(QuotaLimitKind.Concurrency, 1, 1, 1, TimeSpan.FromSeconds(1)), refused.Rejection);
        await AdvanceAsync(TimeSpan.FromSeconds(11));
        Assert.Equal(new QuotaWindowUsage(0, 0, null), (await Ledger.GetUsageAsync(Tenant)).Concurrent);
        Assert.True((await ReserveAsync(Guid.NewGuid(), 10, plan, Start.AddMinutes(10))).IsReserved);
        Assert.Equal(new QuotaWindowUsage(1, 0, null), (await Ledger.GetUsageAsync(Tenant)).Concurrent);
        // Only the slot expired: the reservation itself still holds its tokens until it is settled or released.
        Assert.Equal(ReservationState.Reserved, (await Ledger.GetReservationAsync(Tenant, lost))?.State);
        Assert.Equal(20, (await Ledger.GetUsageAsync(Tenant)).DayTokens.Reserved);
    }

    [Fact]
    public async Task A_slot_expires_at_its_instant_and_not_a_millisecond_before()
    {
        var plan = new QuotaPlan { MaxConcurrent = 1 };
        await ReserveAsync(Guid.NewGuid(), 10, plan, Start.AddSeconds(10));

        await AdvanceAsync(TimeSpan.FromSeconds(10) - TimeSpan.FromMilliseconds(1));
        Assert.Equal(QuotaLimitKind.Concurrency, (await ReserveAsync(Guid.NewGuid(), 10, plan)).Rejection?.Limit);
        Assert.Equal(1, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);

        await AdvanceAsync(TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);
        Assert.True((await ReserveAsync(Guid.NewGuid(), 10, plan)).IsReserved);
    }

    [Fact]
    public async Task A_release_after_its_slot_expired_gives_back_its_tokens_and_frees_no_one_elses_slot()
    {
        var plan = new QuotaPlan { MaxConcurrent = 1 };
        var late = Guid.NewGuid();
        await ReserveAsync(late, 300, plan, Start.AddSeconds(10));
        await AdvanceAsync(TimeSpan.FromSeconds(11));
        var current = Guid.NewGuid();
        Assert.True((await ReserveAsync(current, 200, plan, Start.AddMinutes(10))).IsReserved);

        var release = await Ledger.ReleaseAsync(Tenant, late);

        Assert.Equal(new QuotaSettlement(QuotaSettlementOutcome.Applied, 300, 0), release);
        var usage = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal((0, 200, 1), (usage.DayTokens.Used, usage.DayTokens.Reserved, usage.Concurrent.Used));
        Assert.Equal(QuotaLimitKind.Concurrency, (await ReserveAsync(Guid.NewGuid(), 10, plan)).Rejection?.Limit);
        Assert.True((await Ledger.SettleAsync(Tenant, current, 150)).Applied);
        Assert.Equal(0, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);
    }

    [Fact]
    public async Task A_redelivered_reservation_does_not_take_a_second_slot_nor_move_its_expiry()
    {
        var plan = new QuotaPlan { MaxConcurrent = 2 };
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 10, plan, Start.AddSeconds(10));

        var decisions = await RunConcurrentlyAsync(8, _ => ReserveAsync(inferenceId, 10, plan, Start.AddHours(1)));

        Assert.All(decisions, x => Assert.True(x.IsReserved));
        Assert.Equal(1, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);
        Assert.True((await ReserveAsync(Guid.NewGuid(), 10, plan, Start.AddHours(1))).IsReserved);
        Assert.Equal(QuotaLimitKind.Concurrency, (await ReserveAsync(Guid.NewGuid(), 10, plan)).Rejection?.Limit);
        // The first decision stands, with the expiry it was given.
        await AdvanceAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);
    }

    [Fact]
    public async Task Without_a_deadline_a_slot_lasts_the_slot_lifetime()
    {
        var plan = new QuotaPlan { MaxConcurrent = 1 };
        await ReserveAsync(Guid.NewGuid(), 10, plan);

        await AdvanceAsync(new QuotaOptions().SlotLifetime - TimeSpan.FromSeconds(1));
        Assert.Equal(QuotaLimitKind.Concurrency, (await ReserveAsync(Guid.NewGuid(), 10, plan)).Rejection?.Limit);

        await AdvanceAsync(TimeSpan.FromSeconds(1));
        Assert.True((await ReserveAsync(Guid.NewGuid(), 10, plan)).IsReserved);
    }

    [Fact]
    public async Task A_reservation_whose_deadline_has_passed_is_admitted_without_a_slot()
    {
        var plan = new QuotaPlan { MaxConcurrent = 1 };

        Assert.True((await ReserveAsync(Guid.NewGuid(), 10, plan, Start.AddSeconds(-1))).IsReserved);

        Assert.Equal(0, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);
        Assert.True((await ReserveAsync(Guid.NewGuid(), 10, plan)).IsReserved);
    }

    [Fact]
    public async Task The_rebuild_gives_open_reservations_their_slots_with_their_expiry()
    {
        var plan = new QuotaPlan { MaxConcurrent = 2 };
        var soon = Guid.NewGuid();
        var past = Guid.NewGuid();
        Snapshots.Open.AddRange(
        [
            new OpenReservation(Tenant, soon, 10, Start.AddSeconds(-5), NotAfter: Start.AddSeconds(10)),
            // No deadline recorded: the slot lasts the slot lifetime from the admission.
            new OpenReservation(Tenant, Guid.NewGuid(), 10, Start.AddMinutes(-30)),
            // Its deadline is gone: the request cannot still be running, so it takes no slot.
            new OpenReservation(Tenant, past, 10, Start.AddMinutes(-20), NotAfter: Start.AddSeconds(-1)),
        ]);
        await LoseDataAsync();

        await Ledger.RestoreAsync();

        Assert.Equal(2, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);
        Assert.Equal(QuotaLimitKind.Concurrency, (await ReserveAsync(Guid.NewGuid(), 10, plan)).Rejection?.Limit);
        await AdvanceAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);
        await AdvanceAsync(TimeSpan.FromMinutes(30) - TimeSpan.FromSeconds(10));
        Assert.Equal(0, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);
        // Each reservation is there to be finished; finishing one whose slot has gone frees nothing more.
        Assert.True((await Ledger.ReleaseAsync(Tenant, past)).Applied);
        Assert.True((await Ledger.ReleaseAsync(Tenant, soon)).Applied);
        Assert.True((await ReserveAsync(Guid.NewGuid(), 10, plan)).IsReserved);
        Assert.Equal(1, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);
    }

    protected Task<QuotaDecision> ReserveAsync(
        Guid inferenceId,
        long tokens,
        QuotaPlan? plan = null,
        DateTimeOffset? slotExpiresAt = null) =>
        Ledger.ReserveAsync(new QuotaReservation(Tenant, inferenceId, tokens, slotExpiresAt), plan ?? Limits);

    /// <summary>A plan of token limits per minute and day, 0 meaning none (as the tenant columns say).</summary>
    protected static QuotaPlan Plan(long tokensPerMinute, long tokensPerDay) => new()
    {
        TokensPerMinute = tokensPerMinute == 0 ? null : tokensPerMinute,
        TokensPerDay = tokensPerDay == 0 ? null : tokensPerDay,
    };

    /// <summary>Asserts the minute's and the day's totals (settled plus reserved).</summary>
    private async Task AssertUsageAsync(long minute, long day)
    {
        var usage = await Ledger.GetUsageAsync(Tenant);
        Assert.Equal((minute, day), (usage.MinuteTokens.Total, usage.DayTokens.Total));
    }

    /// <summary>Starts every call at once, so that a ledger that is not atomic lets too many through.</summary>
    private static async Task<T[]> RunConcurrentlyAsync<T>(int count, Func<int, Task<T>> call)
    {
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = Enumerable.Range(0, count)
            .Select(index => Task.Run(async () =>
            {
                await go.Task;
                return await call(index);
            }))
            .ToArray();
        go.SetResult();
        return await Task.WhenAll(calls);
    }
}
