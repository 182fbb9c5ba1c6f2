using System.Net;
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
    public async Task Should_answer_429_with_when_to_retry_and_not_charge_the_refused_request()
    {
        var first = await _client.SubmitAcceptedAsync(SixteenTokens);
        Assert.Equal(16, first.GetProperty("usage").GetProperty("reserved_tokens").GetInt64());
        Assert.Equal("quota_reserved", first.GetProperty("status").GetString());
        var before = await fixture.Services.DevUsageAsync();

        using var second = await _client.SubmitAsync(SixteenTokens);

        var problem = await second.AssertProblemAsync(HttpStatusCode.TooManyRequests, "quota_exceeded");
        Assert.Equal("tokens_per_minute", problem.GetProperty("limit").GetString());
        var retryAfter = second.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        var after = await fixture.Services.DevUsageAsync();
        Assert.Equal((before.MinuteTokens.Total, before.DayTokens.Total), (after.MinuteTokens.Total, after.DayTokens.Total));
        Assert.Equal(16, after.MinuteTokens.Total);
    }

    [Fact]
    public async Task Should_answer_429_without_retry_after_to_a_request_bigger_than_the_limit()
    {
        var before = await fixture.Services.DevUsageAsync();

        using var response = await _client.SubmitAsync(ThirtyTokens);

        // No amount of waiting lets 30 tokens into a minute of 20, so the answer gives no time to wait.
        var problem = await response.AssertProblemAsync(HttpStatusCode.TooManyRequests, "quota_exceeded");
        Assert.Equal("tokens_per_minute", problem.GetProperty("limit").GetString());
        Assert.Null(response.Headers.RetryAfter);
        var after = await fixture.Services.DevUsageAsync();
        Assert.Equal((before.MinuteTokens.Total, before.DayTokens.Total), (after.MinuteTokens.Total, after.DayTokens.Total));
    }
}
