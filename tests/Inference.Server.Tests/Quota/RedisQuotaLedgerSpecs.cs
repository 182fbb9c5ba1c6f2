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
        Ledger = new RedisQuotaLedger(redis.Connection, Options.Create(new QuotaOptions { KeyPrefix = _keyPrefix }), Clock);
    }

    protected override IQuotaLedger Ledger { get; }

    private IDatabase Database => _redis.Connection.GetDatabase();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _redis.DeleteKeysAsync(_keyPrefix);

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
    public async Task Counters_live_under_the_documented_keys_and_the_day_key_holds_the_tenants_day_total()
    {
        var settled = Guid.NewGuid();
        await ReserveAsync(settled, 300);
        await ReserveAsync(Guid.NewGuid(), 200);
        await Ledger.SettleAsync(Tenant, settled, 100);

        Assert.Equal(300, (long)await Database.StringGetAsync($"{_keyPrefix}:quota:{{{Tenant}}}:day:20310517"));
        Assert.Equal(300, (long)await Database.StringGetAsync($"{_keyPrefix}:quota:{{{Tenant}}}:minute:203105171015"));
        Assert.Equal(
            "settled",
            (string?)await Database.HashGetAsync($"{_keyPrefix}:quota:{{{Tenant}}}:reservation:{settled:D}", "state"));
    }

    [Fact]
    public async Task Keys_expire_a_grace_period_after_their_window_ends()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 300);

        // 10:15:20 -> end of minute 10:16:00 + 2 min; end of day 2031-05-18 + 2 days; reservation 7 days.
        await AssertExpiresInAsync("minute:203105171015", TimeSpan.FromSeconds(160));
        await AssertExpiresInAsync("day:20310517", new DateTimeOffset(2031, 5, 20, 0, 0, 0, TimeSpan.Zero) - Start);
        await AssertExpiresInAsync($"reservation:{inferenceId:D}", TimeSpan.FromDays(7));
    }

    [Fact]
    public async Task Later_requests_do_not_extend_a_windows_expiry()
    {
        await ReserveAsync(Guid.NewGuid(), 300);
        await AdvanceAsync(TimeSpan.FromSeconds(30));

        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 300);
        await Ledger.SettleAsync(Tenant, inferenceId, 10);

        await AssertExpiresInAsync("minute:203105171015", TimeSpan.FromSeconds(130));
    }

    [Fact]
    public async Task A_settlement_does_not_recreate_an_expired_window_key()
    {
        var inferenceId = Guid.NewGuid();
        await ReserveAsync(inferenceId, 600);
        await AdvanceAsync(TimeSpan.FromMinutes(3));

        await Ledger.SettleAsync(Tenant, inferenceId, 100);

        Assert.False(await Database.KeyExistsAsync(TenantKey("minute:203105171015")));
        Assert.Equal(100, (long)await Database.StringGetAsync(TenantKey("day:20310517")));
    }

    [Fact]
    public async Task All_of_a_tenants_keys_carry_the_tenant_as_cluster_hash_tag()
    {
        var settled = Guid.NewGuid();
        await ReserveAsync(settled, 300);
        await ReserveAsync(Guid.NewGuid(), 5_000);
        await Ledger.SettleAsync(Tenant, settled, 100);

        var keys = await _redis.KeysAsync(_keyPrefix);

        Assert.Equal(4, keys.Length);
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

    private async Task AssertExpiresInAsync(string keySuffix, TimeSpan expected)
    {
        var timeToLive = await Database.KeyTimeToLiveAsync(TenantKey(keySuffix));

        Assert.NotNull(timeToLive);
        // Only the real time spent by the test itself may have passed since the expiry was set.
        Assert.InRange(timeToLive.Value, expected - TimeSpan.FromSeconds(5), expected);
    }
}
