using Inference.Orchestration.Protocol;
using Inference.Server.Persistence;
using Inference.Server.Quota;
using Inference.Server.Resilience;
using Inference.Server.Tenants;
using Inference.Server.Tests.Infrastructure;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Inference.Server.Tests.Quota;

/// <summary>
/// The quota consumers with their real endpoint definitions on MassTransit's test harness, over a ledger that is away
/// for the first few calls of a kind, as Redis is while it restarts, or that fails for a reason waiting cannot cure.
/// </summary>
public sealed class When_the_ledger_is_away_for_a_while : IAsyncLifetime
{
    private readonly AwayLedger _ledger = new(new InProcessQuotaLedger(new ScriptedQuotaSnapshotSource(), Options.Create(new QuotaOptions()), TimeProvider.System));
    private readonly QuotaOptions _options = new();
    private readonly SqliteConnection _database = new("Data Source=:memory:");
    private readonly ServiceProvider _provider;

    public When_the_ledger_is_away_for_a_while()
    {
        _provider = new ServiceCollection()
            .AddSingleton<IQuotaLedger>(_ledger)
            .AddSingleton(TimeProvider.System)
            .AddSingleton(Options.Create(_options))
            .AddLogging()
            .AddMemoryCache()
            .AddScoped<TenantPlans>()
            .AddDbContext<InferenceDbContext, SqliteInferenceDbContext>(db => db.UseSqlite(_database))
            .AddMassTransitTestHarness(bus =>
            {
                bus.AddConsumer<QuotaReservationConsumer, QuotaReservationConsumerDefinition>();
                bus.AddConsumer<QuotaSettlementConsumer, QuotaSettlementConsumerDefinition>();
            })
            .BuildServiceProvider(validateScopes: true);
    }

    private ITestHarness Harness => _provider.GetRequiredService<ITestHarness>();

    public async Task InitializeAsync()
    {
        // The tenant's limits come from the database; this one lives as long as its open connection.
        await _database.OpenAsync();
        await using (var scope = _provider.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            await db.Database.EnsureCreatedAsync();
            db.Tenants.Add(new Tenant { Id = "tenant-a", Name = "A" });
            db.Tenants.Add(new Tenant { Id = "tenant-small", Name = "Small", TokensPerMinute = 50, TokensPerDay = 1_000 });
            await db.SaveChangesAsync();
        }

        await Harness.Start();
    }

    public async Task DisposeAsync()
    {
        // Stopping the bus waits for messages in hand; a spec that failed must not leave them retrying for minutes.
        _ledger.FailNext(nameof(IQuotaLedger.ReserveAsync), 0);
        _ledger.FailNext(nameof(IQuotaLedger.ReleaseAsync), 0);
        await _provider.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task Should_release_once_it_is_back_rather_than_give_up_after_a_few_seconds()
    {
        var id = Guid.NewGuid();
        await _ledger.Inner.ReserveAsync(new QuotaReservation("tenant-a", id, 40), QuotaPlan.Unlimited);
        // Longer than the quick retries of a failure that is not an outage (its fault would leave these tokens counted
        // until the day ends).
        _ledger.FailNext(nameof(IQuotaLedger.ReleaseAsync), 6);

        await Harness.Bus.Publish(new ReleaseQuota { InferenceId = id, TenantId = "tenant-a" });

        await Poll.UntilAsync(async () => (await _ledger.Inner.GetReservationAsync("tenant-a", id))?.State == ReservationState.Released,
            "the reservation to be released");
        Assert.Equal(0, (await _ledger.Inner.GetUsageAsync("tenant-a")).DayTokens.Total);
        Assert.False(Harness.Published.Select<Fault<ReleaseQuota>>().Any());
    }

    [Fact]
    public async Task Should_keep_deciding_reservations_while_many_releases_wait_for_the_ledger()
    {
        // More releases than an endpoint has slots, all retrying: they must not hold up a reservation.
        var releases = Enumerable.Range(0, 40).Select(_ => Guid.NewGuid()).ToList();
        foreach (var id in releases)
            await _ledger.Inner.ReserveAsync(new QuotaReservation("tenant-a", id, 1), QuotaPlan.Unlimited);
        _ledger.FailNext(nameof(IQuotaLedger.ReleaseAsync), int.MaxValue);
        foreach (var id in releases)
            await Harness.Bus.Publish(new ReleaseQuota { InferenceId = id, TenantId = "tenant-a" });
        await Poll.UntilAsync(() => _ledger.Calls(nameof(IQuotaLedger.ReleaseAsync)) >= 40, "the releases to be tried");

        var reservation = Guid.NewGuid();
        await Harness.Bus.Publish(new ReserveQuota { InferenceId = reservation, TenantId = "tenant-a", Tokens = 40 });

        await Poll.UntilAsync(() => Harness.Published.Select<QuotaReserved>().Any(x => x.Context.Message.InferenceId == reservation),
            "the reservation to be decided");

        // The ledger comes back, and the releases go through on their next attempt: only the reservation stays counted.
        _ledger.FailNext(nameof(IQuotaLedger.ReleaseAsync), 0);
        await Poll.UntilAsync(async () => (await _ledger.Inner.GetUsageAsync("tenant-a")).DayTokens.Total == 40, "the releases to finish");
    }

    [Fact]
    public async Task Should_wait_out_an_outage_before_deciding_a_reservation_rather_than_fail_its_request()
    {
        var id = Guid.NewGuid();
        _ledger.FailNext(nameof(IQuotaLedger.ReserveAsync), 6);

        await Harness.Bus.Publish(new ReserveQuota { InferenceId = id, TenantId = "tenant-a", Tokens = 40 });

        await Poll.UntilAsync(() => Harness.Published.Select<QuotaReserved>().Any(x => x.Context.Message.InferenceId == id),
            "the reservation to be decided");
        Assert.Equal(7, _ledger.Calls(nameof(IQuotaLedger.ReserveAsync)));
        Assert.False(Harness.Published.Select<Fault<ReserveQuota>>().Any());
    }

    [Fact]
    public async Task Should_give_up_on_a_reservation_that_fails_for_another_reason_after_its_quick_retries()
    {
        var id = Guid.NewGuid();
        _ledger.FailNext(nameof(IQuotaLedger.ReserveAsync), int.MaxValue, outage: false);

        await Harness.Bus.Publish(new ReserveQuota { InferenceId = id, TenantId = "tenant-a", Tokens = 40 });

        await Poll.UntilAsync(() => Harness.Published.Select<Fault<ReserveQuota>>().Any(x => x.Context.Message.Message.InferenceId == id),
            "the reservation's fault");
        Assert.Equal(5, _ledger.Calls(nameof(IQuotaLedger.ReserveAsync)));
    }

    [Fact]
    public async Task Should_publish_a_rejection_with_the_limit_its_window_held_and_what_was_asked()
    {
        var first = Guid.NewGuid();
        var second = Guid.NewGuid();
        await Harness.Bus.Publish(new ReserveQuota { InferenceId = first, TenantId = "tenant-small", Tokens = 30 });
        await Poll.UntilAsync(() => Harness.Published.Select<QuotaReserved>().Any(x => x.Context.Message.InferenceId == first),
            "the first reservation");

        await Harness.Bus.Publish(new ReserveQuota { InferenceId = second, TenantId = "tenant-small", Tokens = 40 });

        await Poll.UntilAsync(() => Harness.Published.Select<QuotaRejected>().Any(x => x.Context.Message.InferenceId == second),
            "the rejection");
        var rejected = Harness.Published.Select<QuotaRejected>().Single(x => x.Context.Message.InferenceId == second).Context.Message;
        Assert.Equal(("rate_limit_tokens", 50L, 20L, 30L, 40L), (rejected.Limit, rejected.LimitValue, rejected.Remaining, rejected.Used, rejected.Requested));
        Assert.NotNull(rejected.RetryAfter);
    }

    [Fact]
    public async Task Should_admit_without_counting_while_redis_is_unreachable_when_failing_open()
    {
        _options.FailOpen = true;
        var id = Guid.NewGuid();
        _ledger.FailNext(nameof(IQuotaLedger.ReserveAsync), 1);

        await Harness.Bus.Publish(new ReserveQuota { InferenceId = id, TenantId = "tenant-a", Tokens = 40 });

        await Poll.UntilAsync(() => Harness.Published.Select<QuotaReserved>().Any(x => x.Context.Message.InferenceId == id),
            "the reservation to be admitted");
        Assert.Equal(1, _ledger.Calls(nameof(IQuotaLedger.ReserveAsync)));
        Assert.Equal(40, Harness.Published.Select<QuotaReserved>().Single(x => x.Context.Message.InferenceId == id).Context.Message.Tokens);
        Assert.Null(await _ledger.Inner.GetReservationAsync("tenant-a", id));
    }

    [Fact]
    public async Task Should_reserve_with_the_requests_deadline_as_the_expiry_of_its_slot()
    {
        var withDeadline = Guid.NewGuid();
        var notAfter = DateTimeOffset.UtcNow.AddMinutes(5);
        var withoutDeadline = Guid.NewGuid();

        await Harness.Bus.Publish(new ReserveQuota { InferenceId = withDeadline, TenantId = "tenant-a", Tokens = 40, NotAfter = notAfter });
        await Harness.Bus.Publish(new ReserveQuota { InferenceId = withoutDeadline, TenantId = "tenant-a", Tokens = 40 });

        await Poll.UntilAsync(() => Harness.Published.Select<QuotaReserved>().Count() == 2, "both reservations to be decided");
        Assert.Equal(notAfter, _ledger.Reservation(withDeadline)?.SlotExpiresAt);
        // An older sender's message without a deadline: the ledger bounds the slot by Quotas:SlotLifetime instead.
        Assert.NotNull(_ledger.Reservation(withoutDeadline));
        Assert.Null(_ledger.Reservation(withoutDeadline)?.SlotExpiresAt);
    }

    /// <summary>
    /// A ledger whose next calls of one kind throw: as StackExchange.Redis does while its server is unreachable, or with
    /// an error that is no outage.
    /// </summary>
    private sealed class AwayLedger(IQuotaLedger inner) : IQuotaLedger
    {
        private readonly Dictionary<string, int> _failuresLeft = [];
        private readonly Dictionary<string, int> _calls = [];
        private readonly Dictionary<Guid, QuotaReservation> _reservations = [];
        private bool _outage = true;

        public IQuotaLedger Inner { get; } = inner;

        public void FailNext(string operation, int count, bool outage = true)
        {
            lock (_failuresLeft)
            {
                _failuresLeft[operation] = count;
                _outage = outage;
            }
        }

        public int Calls(string operation)
        {
            lock (_failuresLeft)
                return _calls.GetValueOrDefault(operation);
        }

        /// <summary>The last reservation asked of this ledger for <paramref name="inferenceId"/>.</summary>
        public QuotaReservation? Reservation(Guid inferenceId)
        {
            lock (_failuresLeft)
                return _reservations.GetValueOrDefault(inferenceId);
        }

        public Task<QuotaDecision> ReserveAsync(QuotaReservation reservation, QuotaPlan plan, CancellationToken ct = default)
        {
            lock (_failuresLeft)
                _reservations[reservation.InferenceId] = reservation;

            return Call(nameof(ReserveAsync), () => Inner.ReserveAsync(reservation, plan, ct));
        }

        public Task RestoreAsync(CancellationToken ct = default) => Inner.RestoreAsync(ct);

        public Task<QuotaSettlement> SettleAsync(string tenantId, Guid inferenceId, long actualTokens, CancellationToken cancellationToken = default) =>
            Call(nameof(SettleAsync), () => Inner.SettleAsync(tenantId, inferenceId, actualTokens, cancellationToken));

        public Task<QuotaSettlement> ReleaseAsync(string tenantId, Guid inferenceId, CancellationToken cancellationToken = default) =>
            Call(nameof(ReleaseAsync), () => Inner.ReleaseAsync(tenantId, inferenceId, cancellationToken));

        public Task<QuotaUsage> GetUsageAsync(string tenantId, CancellationToken cancellationToken = default) =>
            Inner.GetUsageAsync(tenantId, cancellationToken);

        public Task<ReservationRecord?> GetReservationAsync(string tenantId, Guid inferenceId, CancellationToken cancellationToken = default) =>
            Inner.GetReservationAsync(tenantId, inferenceId, cancellationToken);

        private Task<T> Call<T>(string operation, Func<Task<T>> call)
        {
            lock (_failuresLeft)
            {
                _calls[operation] = _calls.GetValueOrDefault(operation) + 1;
                if (_failuresLeft.GetValueOrDefault(operation) > 0)
                {
                    _failuresLeft[operation]--;
                    Exception failure = _outage
                        ? new RedisConnectionException(ConnectionFailureType.UnableToConnect, "The ledger's server is unreachable.")
                        : new InvalidOperationException("The ledger met a value it cannot handle.");
                    Assert.Equal(_outage, TransientFailures.Is(failure));
                    throw failure;
                }
            }

            return call();
        }
    }
}
