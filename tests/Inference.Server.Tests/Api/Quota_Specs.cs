using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

/// <summary>
/// The dev tenant on a plan of 20 tokens per minute. The app's clock is the real one shifted to a second after the
/// start of a UTC minute, so that the requests of these specs share one minute window wherever the real clock stands.
/// </summary>
public sealed class TwentyTokensPerMinuteApp() : EmbeddedApp(new Dictionary<string, string?>
{
    ["Dev:TokensPerMinute"] = "20",
})
{
    protected override WebApplicationFactory<Program> Customize(InferenceAppFactory factory)
    {
        var clock = new EarlyInTheMinuteClock();
        return factory.WithWebHostBuilder(host => host.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(clock)));
    }

    private sealed class EarlyInTheMinuteClock : TimeProvider
    {
        private readonly TimeSpan _shift;

        public EarlyInTheMinuteClock()
        {
            var now = System.GetUtcNow();
            _shift = TimeSpan.FromSeconds(1) - TimeSpan.FromTicks(now.Ticks % TimeSpan.TicksPerMinute);
        }

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + _shift;
    }
}

public sealed class When_the_tokens_per_minute_are_used_up(TwentyTokensPerMinuteApp fixture) : IClassFixture<TwentyTokensPerMinuteApp>
{
    // 14 words, each one token, plus [CLS] and [SEP]: 16 tokens. Two of them do not fit in 20.
    private static readonly string SixteenTokens = string.Join(' ', Enumerable.Repeat("word", 14));

    // 28 words plus [CLS] and [SEP]: 30 tokens, more than the minute allows even when nothing else was used.
    private static readonly string ThirtyTokens = string.Join(' ', Enumerable.Repeat("word", 28));

    private readonly HttpClient _client = fixture.CreateDevClient();

    [Fact]
    public async Task Should_answer_429_rate_limit_tokens_with_the_limit_what_was_used_and_when_to_retry_and_charge_nothing()
    {
        var first = await _client.SubmitAcceptedAsync(SixteenTokens);
        Assert.Equal(16, first.GetProperty("usage").GetProperty("reserved_tokens").GetInt64());
        Assert.Equal("quota_reserved", first.GetProperty("status").GetString());
        var before = await fixture.Services.DevUsageAsync();

        using var second = await _client.SubmitAsync(SixteenTokens);

        var problem = await second.AssertProblemAsync(HttpStatusCode.TooManyRequests, "rate_limit_tokens");
        Assert.Equal(("tokens_per_minute", 20, before.MinuteTokens.Total, 16),
            (problem.GetProperty("limit_name").GetString(), problem.GetProperty("limit").GetInt64(), problem.GetProperty("used").GetInt64(),
                problem.GetProperty("requested").GetInt64()));
        var retryAfter = second.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        var after = await fixture.Services.DevUsageAsync();
        // The first request may have been settled meanwhile (used instead of reserved); the refused one counts nowhere.
        Assert.Equal((before.MinuteTokens.Total, before.DayTokens.Total, before.MonthTokens.Total, before.Requests.Total),
            (after.MinuteTokens.Total, after.DayTokens.Total, after.MonthTokens.Total, after.Requests.Total));

        // The refused request exists, failed with the window's code, and nothing of it is charged.
        var refused = await _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{problem.GetProperty("inference_id").GetString()}");
        Assert.Equal(("failed", "rate_limit_tokens", 0), (refused.GetProperty("status").GetString(),
            refused.GetProperty("error").GetProperty("code").GetString(), refused.GetProperty("usage").GetProperty("total_tokens").GetInt32()));
    }

    [Fact]
    public async Task Should_refuse_a_request_larger_than_the_plan_at_once_with_400_and_store_and_reserve_nothing()
    {
        var before = await fixture.Services.DevUsageAsync();
        var stored = await fixture.Services.InferenceCountAsync();

        using var response = await _client.SubmitAsync(ThirtyTokens);

        // No amount of waiting lets 30 tokens into a minute of 20: the client is told so, not asked to retry.
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "request_exceeds_plan");
        Assert.Equal(("tokens_per_minute", 20, 30), (problem.GetProperty("limit_name").GetString(), problem.GetProperty("limit").GetInt64(),
            problem.GetProperty("requested").GetInt64()));
        Assert.Null(response.Headers.RetryAfter);
        Assert.Equal(stored, await fixture.Services.InferenceCountAsync());
        var after = await fixture.Services.DevUsageAsync();
        Assert.Equal((before.Requests.Total, before.MinuteTokens.Total, before.DayTokens.Total),
            (after.Requests.Total, after.MinuteTokens.Total, after.DayTokens.Total));
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : null;
}

/// <summary>What a client is told of its plan: an app of its own, so that the minute's tokens are these specs' alone.</summary>
public sealed class When_a_client_reads_its_limits(TwentyTokensPerMinuteApp fixture) : IClassFixture<TwentyTokensPerMinuteApp>
{
    private readonly HttpClient _client = fixture.CreateDevClient();

    [Fact]
    public async Task Should_tell_every_authenticated_response_the_tightest_token_window_and_no_request_window_the_plan_lacks()
    {
        var accepted = await _client.SubmitAcceptedAsync("four tokens");
        using var read = await _client.GetAsync($"/v1/inferences/{accepted.GetProperty("id").GetString()}");
        var usage = await fixture.Services.DevUsageAsync();

        // Of the minute's 20 and the day's 100,000,000 tokens, the minute has fewer left.
        Assert.Equal("20", Header(read, "x-ratelimit-limit-tokens"));
        Assert.Equal((20 - usage.MinuteTokens.Total).ToString(CultureInfo.InvariantCulture), Header(read, "x-ratelimit-remaining-tokens"));
        Assert.Matches("^([1-9]|[1-5][0-9]|60)s$|^1m0s$", Header(read, "x-ratelimit-reset-tokens"));
        Assert.False(read.Headers.Contains("x-ratelimit-limit-requests"));

        using var models = await _client.GetAsync("/v1/models");
        Assert.Equal("20", Header(models, "x-ratelimit-limit-tokens"));

        // Nothing is told to a caller without a key.
        using var anonymous = fixture.CreateClient();
        using var unauthorized = await anonymous.GetAsync("/v1/models");
        Assert.False(unauthorized.Headers.Contains("x-ratelimit-limit-tokens"));
    }

    [Fact]
    public async Task Should_show_the_plan_and_every_window_on_get_quota()
    {
        await _client.SubmitAcceptedAsync("four tokens");

        var quota = await _client.GetFromJsonAsync<JsonElement>("/v1/quota");
        var usage = await fixture.Services.DevUsageAsync();

        Assert.Equal(("quota", "dev"), (quota.GetProperty("object").GetString(), quota.GetProperty("tenant_id").GetString()));
        var plan = quota.GetProperty("plan");
        Assert.Equal(20, plan.GetProperty("tokens_per_minute").GetInt64());
        Assert.Equal(JsonValueKind.Null, plan.GetProperty("tokens_per_month").ValueKind);
        var minute = quota.GetProperty("windows").GetProperty("tokens_per_minute");
        Assert.Equal((20L, usage.MinuteTokens.Used, usage.MinuteTokens.Reserved, 20 - usage.MinuteTokens.Total),
            (minute.GetProperty("limit").GetInt64(), minute.GetProperty("used").GetInt64(), minute.GetProperty("reserved").GetInt64(),
                minute.GetProperty("remaining").GetInt64()));
        Assert.True(usage.MinuteTokens.Total >= 4);
        Assert.Equal(usage.MinuteTokens.ResetsAt, minute.GetProperty("resets_at").GetDateTimeOffset());
        var month = quota.GetProperty("windows").GetProperty("tokens_per_month");
        Assert.Equal((JsonValueKind.Null, JsonValueKind.Null), (month.GetProperty("limit").ValueKind, month.GetProperty("remaining").ValueKind));
        Assert.True(month.GetProperty("used").GetInt64() + month.GetProperty("reserved").GetInt64() >= 4);
        var concurrent = quota.GetProperty("windows").GetProperty("max_concurrent");
        Assert.Equal(JsonValueKind.Null, concurrent.GetProperty("resets_at").ValueKind);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : null;
}
