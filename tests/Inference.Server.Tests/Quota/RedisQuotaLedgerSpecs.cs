using Inference.Server.Quota;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Inference.Server.Tests.Quota;

/// <summary>
/// The shared ledger behaviour against a real Redis, plus what only Redis has: key names, expiries, hash slots.
/// </summary>
public sealed class RedisQuotaLedgerSpecs : QuotaLedgerSpecs, IClassFixture<RedisConnectionFixture>, IAsyncLifetime
{
    private readonly RedisConnectionFixture _redis;
    private readonly string _keyPrefix = "quota-test-" + Guid.NewGuid().ToString("N");

    public RedisQuotaLedgerSpecs(RedisConnectionFixture redis)
    {
        _redis = redis;
        Ledger = new RedisQuotaLedger(
            redis.Connection, Snapshots, Options.Create(new QuotaOptions { KeyPrefix = _keyPrefix }), Clock);
    }

    protected override IQuotaLedger Ledger { get; }

    private IDatabase Database => _redis.Connection.GetDatabase();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _redis.DeleteKeysAsync(_keyPrefix);

    /// <summary>A flushed Redis, as far as this ledger sees: every key of its prefix gone, the marker with them.</summary>
    protected override Task LoseDataAsync() => _redis.DeleteKeysAsync(_keyPrefix);

    /// <summary>
    /// Redis expires keys on its own clock, which the fake one does not move; so age this test's keys by the same
    /// amount, deleting those whose time has come, as Redis would have.
    /// </summary>
    protected override async Task AdvanceAsync(TimeSpan duration)
    {
        await base.AdvanceAsync(duration);
        foreach (var key in await _redis.KeysAsync(_keyPrefix))
        {
            if (await Database.KeyTimeToLiveAsync(key) is not { } timeToLive)
                continue;

            var remaining = timeToLive - duration;
            if (remaining > TimeSpan.Zero)
                await Database.KeyExpireAsync(key, remaining);
            else
                await Database.KeyDeleteAsync(key);
        }
    }

    [Fact]
    public async Task Windows_live_under_the_documented_keys_with_settled_and_reserved_tokens_apart()
    {
        var settled = Guid.NewGuid();
        await ReserveAsync(settled, 300);
        var open = Guid.NewGuid();
        await ReserveAsync(open, 200);
        await Ledger.SettleAsync(Tenant, settled, 100);

        Assert.Equal(["100", "200", "2"], await FieldsAsync("window:minute:203105171015", "used", "reserved", "requests"));
        Assert.Equal(["100", "200"], await FieldsAsync("window:day:20310517", "used", "reserved"));
        Assert.Equal(["100", "200"], await FieldsAsync("window:month:203105", "used", "reserved"));
        // The open request's slot: its inference id, expiring at the decision plus the slot lifetime (no deadline given).
        Assert.Equal(
            [new SortedSetEntry(open.ToString("D"), Start.AddHours(1).ToUnixTimeMilliseconds())],
            await Database.SortedSetRangeByRankWithScoresAsync(TenantKey("slots")));
        Assert.Equal("settled", (string?)await Database.HashGetAsync(TenantKey($"reservation:{settled:D}"), "state"));
        Assert.True(await Database.KeyExistsAsync($"{_keyPrefix}:quota:restored"));
    }

    [Fact]
    public async Task A_reservation_with_the_marker_gone_rebuilds_before_it_decides()
    {
        await ReserveAsync(Guid.NewGuid(), 100);
        await Database.KeyDeleteAsync($"{_keyPrefix}:quota:restored");
        await Database.KeyDeleteAsync(TenantKey("window:day:20310517"));
        Snapshots.Settled.Add(new(Tenant, new DateOnly(2031, 5, 17), 9_950));

        var decision = await ReserveAsync(Guid.NewGuid(), 100);

        Assert.Equal(QuotaLimitKind.TokensPerDay, decision.Rejection?.Limit);
        Assert.Equal(9_950, decision.Rejection?.Used);
        Assert.True(await Database.KeyExistsAsync($"{_keyPrefix}:quota:restored"));
        Assert.False(await Database.KeyExistsAsync($"{_keyPrefix}:quota:restoring"));
    }

    [Fact]
    public async Task A_rebuild_larger_than_one_script_writes_every_tenant()
    {
        var tenants = Enumerable.Range(0, 500).Select(i => $"tenant-{i:D3}").ToList();
        foreach (var tenant in tenants)
        {
            Snapshots.Settled.Add(new(tenant, new DateOnly(2031, 5, 17), 1_000));
            Snapshots.Open.Add(new OpenReservation(tenant, Guid.NewGuid(), 50, Start));
        }

        await Ledger.RestoreAsync();

        var usages = await Task.WhenAll(tenants.Select(tenant => Ledger.GetUsageAsync(tenant)));
        Assert.All(usages, usage => Assert.Equal(
            (1_000L, 50L, 1_000L, 50L, 1L),
            (usage.DayTokens.Used, usage.DayTokens.Reserved, usage.MonthTokens.Used, usage.MonthTokens.Reserved, usage.Concurrent.Used)));
        var last = Snapshots.Open[^1];
        Assert.True((await Ledger.ReleaseAsync(last.TenantId, last.InferenceId)).Applied);
        Assert.Equal(1, Snapshots.Reads);
    }

    [Fact]
    public async Task While_another_process_holds_the_rebuild_lock_a_reservation_waits_and_then_gives_up_to_retry()
    {
        await LoseDataAsync();
        await Database.StringSetAsync($"{_keyPrefix}:quota:restoring", "another-process", TimeSpan.FromSeconds(30));

        await Assert.ThrowsAsync<TimeoutException>(() => ReserveAsync(Guid.NewGuid(), 100));

        Assert.Equal(0, Snapshots.Reads);
    }

    [Fact]
    public async Task Keys_expire_a_grace_period_after_their_window_ends()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 300);

        // 10:15:20 -> end of minute 10:16:00 + 2 min; end of day 2031-05-18 + 2 days; end of month 2031-06-01 + 2 days;
        // reservation 7 days; the slots 2 minutes after the last slot, here the decision plus the slot lifetime (1 hour).
        await AssertExpiresInAsync("window:minute:203105171015", TimeSpan.FromSeconds(160));
        await AssertExpiresInAsync("window:day:20310517", new DateTimeOffset(2031, 5, 20, 0, 0, 0, TimeSpan.Zero) - Start);
        await AssertExpiresInAsync("window:month:203105", new DateTimeOffset(2031, 6, 3, 0, 0, 0, TimeSpan.Zero) - Start);
        await AssertExpiresInAsync($"reservation:{inferenceId:D}", TimeSpan.FromDays(7));
        await AssertExpiresInAsync("slots", TimeSpan.FromMinutes(62));
    }

    [Fact]
    public async Task The_slots_key_outlives_its_longest_slot_by_two_minutes_and_a_usage_read_writes_nothing()
    {
        await ReserveAsync(Guid.NewGuid(), 10, QuotaPlan.Unlimited, Start.AddMinutes(10));
        await ReserveAsync(Guid.NewGuid(), 10, QuotaPlan.Unlimited, Start.AddMinutes(5));
        await AssertExpiresInAsync("slots", TimeSpan.FromMinutes(12));

        await AdvanceAsync(TimeSpan.FromMinutes(6));
        Assert.Equal(1, (await Ledger.GetUsageAsync(Tenant)).Concurrent.Used);

        // The expired member is still there: only a reservation drops it.
        Assert.Equal(2, await Database.SortedSetLengthAsync(TenantKey("slots")));
        await ReserveAsync(Guid.NewGuid(), 10, QuotaPlan.Unlimited, Start.AddMinutes(7));
        Assert.Equal(2, await Database.SortedSetLengthAsync(TenantKey("slots")));
        await AssertExpiresInAsync("slots", TimeSpan.FromMinutes(6));
    }

    [Fact]
    public async Task Later_requests_do_not_extend_a_windows_expiry()
    {
        await ReserveAsync(Guid.NewGuid(), 300);
        await AdvanceAsync(TimeSpan.FromSeconds(30));

        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 300);
        await Ledger.SettleAsync(Tenant, inferenceId, 10);

        await AssertExpiresInAsync("window:minute:203105171015", TimeSpan.FromSeconds(130));
    }

    [Fact]
    public async Task A_settlement_does_not_recreate_an_expired_window_key()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 600);
        await AdvanceAsync(TimeSpan.FromMinutes(3));

        await Ledger.SettleAsync(Tenant, inferenceId, 100);

        Assert.False(await Database.KeyExistsAsync(TenantKey("window:minute:203105171015")));
        Assert.Equal(["100", "0"], await FieldsAsync("window:day:20310517", "used", "reserved"));
    }

    [Fact]
    public async Task All_of_a_tenants_keys_carry_the_tenant_as_cluster_hash_tag()
    {
        var settled = Guid.NewGuid();
        await ReserveAsync(settled, 300);
        await ReserveAsync(Guid.NewGuid(), 200);
        await ReserveAsync(Guid.NewGuid(), 5_000);
        await Ledger.SettleAsync(Tenant, settled, 100);

        // The rebuild marker is the ledger's, not a tenant's: it is the one key without a tenant hash tag.
        var keys = (await _redis.KeysAsync(_keyPrefix)).Where(key => key != $"{_keyPrefix}:quota:restored").ToArray();

        // Minute, day, month, the open request's slot, three reservations (settled, open, rejected).
        Assert.Equal(7, keys.Length);
        Assert.All(keys, key => Assert.Equal(Tenant, ClusterHashTag(key)));
    }

    /// <summary>
    /// The part of a key that Redis Cluster hashes, by the cluster specification's rule. Computed here because the
    /// client reports no slots on a standalone server.
    /// </summary>
    private static string? ClusterHashTag(RedisKey key)
    {
        var name = key.ToString();
        var open = name.IndexOf('{', StringComparison.Ordinal);
        if (open < 0)
            return null;

        var close = name.IndexOf('}', open + 1);
        return close > open + 1 ? name[(open + 1)..close] : null;
    }

    private RedisKey TenantKey(string suffix) => $"{_keyPrefix}:quota:{{{Tenant}}}:{suffix}";

    private async Task<string[]> FieldsAsync(string keySuffix, params string[] fields) =>
        [.. (await Database.HashGetAsync(TenantKey(keySuffix), [.. fields.Select(field => (RedisValue)field)]))
            .Select(value => value.IsNull ? "(nil)" : value.ToString())];

    private async Task AssertExpiresInAsync(string keySuffix, TimeSpan expected)
    {
        var timeToLive = await Database.KeyTimeToLiveAsync(TenantKey(keySuffix));

        Assert.NotNull(timeToLive);
        // Only the real time spent by the test itself may have passed since the expiry was set.
        Assert.InRange(timeToLive.Value, expected - TimeSpan.FromSeconds(5), expected);
    }
}
