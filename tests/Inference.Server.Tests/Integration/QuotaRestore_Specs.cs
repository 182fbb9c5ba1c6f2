using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Persistence;
using Inference.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Integration;

/// <summary>
/// Redis is a cache of the quota windows; the usage ledger in PostgreSQL is the record. When Redis loses its data
/// mid-run (a flush, a failover to an empty replica), the day and month windows are rebuilt from the ledger, so no
/// tenant can spend its day or its month twice.
/// </summary>
public sealed class When_redis_loses_the_quota_windows_mid_run : IAsyncLifetime
{
    // Five words and the two special tokens: 7 tokens. Five fit in 40 tokens, the sixth does not.
    private const string SevenTokens = "one two three four five";

    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_rebuild_the_day_and_the_month_from_the_ledger_so_neither_can_be_spent_again()
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?>(_services.Settings()) { ["Dev:TokensPerDay"] = "40" });
        using var dev = app.CreateDevClient();
        var monthly = $"monthly-{Guid.NewGuid():N}"[..20];
        using var tenant = app.CreateClient();
        tenant.DefaultRequestHeaders.Authorization = new("Bearer", await app.Services.AddTenantAsync(monthly));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            (await db.Tenants.FindAsync(monthly))!.TokensPerMonth = 40;
            await db.SaveChangesAsync();
        }

        foreach (var client in new[] { dev, tenant })
        {
            for (var i = 0; i < 5; i++)
                Assert.Equal("completed", (await client.CompleteAsync(SevenTokens)).GetProperty("status").GetString());
        }

        await AssertRefusedAsync(dev, "quota_daily_tokens");
        await AssertRefusedAsync(tenant, "quota_monthly_tokens");
        // The settlements are in Redis before the flush, or they would be lost with it and settle nothing afterwards.
        await Poll.UntilAsync(async () => (await UsedAsync(dev, "tokens_per_day"), await UsedAsync(tenant, "tokens_per_month")),
            used => used == (35, 35), "the requests to be settled");

        await FlushAsync();

        // Redis is empty: without the ledger each tenant could spend another 40 tokens.
        await AssertRefusedAsync(dev, "quota_daily_tokens");
        await AssertRefusedAsync(tenant, "quota_monthly_tokens");
        Assert.Equal(35, await UsedAsync(dev, "tokens_per_day"));
        Assert.Equal(35, await UsedAsync(dev, "tokens_per_month"));
        Assert.Equal(35, await UsedAsync(tenant, "tokens_per_month"));

        // What is left still fits: the rebuild counted what was used, not more.
        using var small = await dev.SubmitAsync("one two three");
        Assert.Equal(HttpStatusCode.Accepted, small.StatusCode);
    }

    private async Task FlushAsync()
    {
        var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(TestServices.Redis);
        await using (redis)
        {
            foreach (var server in redis.GetServers())
            {
                await foreach (var key in server.KeysAsync(pattern: _services.RedisPrefix + ":*"))
                    await redis.GetDatabase().KeyDeleteAsync(key);
            }
        }
    }

    private static async Task AssertRefusedAsync(HttpClient client, string code)
    {
        using var refused = await client.SubmitAsync(SevenTokens);
        await refused.AssertProblemAsync(HttpStatusCode.TooManyRequests, code);
    }

    private static async Task<long> UsedAsync(HttpClient client, string window)
    {
        var quota = await client.GetFromJsonAsync<JsonElement>("/v1/quota");
        var state = quota.GetProperty("windows").GetProperty(window);
        return state.GetProperty("used").GetInt64() + state.GetProperty("reserved").GetInt64();
    }
}

/// <summary><c>Quotas:FailOpen</c>: with Redis unreachable, requests are admitted uncounted, and still billed.</summary>
public sealed class When_redis_cannot_be_reached_and_quotas_fail_open : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_admit_and_complete_requests_and_write_them_to_the_usage_ledger()
    {
        // Nothing listens on port 1: every Redis command fails at once.
        await using var app = new InferenceAppFactory(new Dictionary<string, string?>(_services.Settings())
        {
            ["ConnectionStrings:Redis"] = "127.0.0.1:1,connectTimeout=200",
            ["Quotas:FailOpen"] = "true",
        });
        using var client = app.CreateDevClient();

        var completed = await client.CompleteAsync("one two three four five");

        Assert.Equal("completed", completed.GetProperty("status").GetString());
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        var id = Guid.Parse(completed.GetProperty("id").GetString()!);
        var billed = await Poll.UntilAsync(() => db.UsageRecords.AsNoTracking().Where(x => x.InferenceId == id).ToListAsync(),
            rows => rows.Count == 1, "the usage ledger row");
        Assert.Equal(7, billed[0].PromptTokens + billed[0].CompletionTokens);

        // The quota cannot be read, so it is not shown; the request was not refused for it.
        using var quota = await client.GetAsync("/v1/quota");
        await quota.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "quota_unavailable");
        Assert.False(quota.Headers.Contains("x-ratelimit-limit-tokens"));
    }
}
