using Inference.Server.Api;
using Inference.Server.Quota;

namespace Inference.Server.Tests.Api;

public sealed class RateLimitHeaders_Specs
{
    private static readonly DateTimeOffset Now = new(2031, 5, 17, 10, 15, 20, TimeSpan.Zero);
    private static readonly DateTimeOffset MinuteEnd = new(2031, 5, 17, 10, 16, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset DayEnd = new(2031, 5, 18, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset MonthEnd = new(2031, 6, 1, 0, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(0, "0ms")]
    [InlineData(250, "250ms")]
    [InlineData(999.2, "1s")]
    [InlineData(1_000, "1s")]
    [InlineData(1_001, "2s")]
    [InlineData(59_000, "59s")]
    [InlineData(60_000, "1m0s")]
    [InlineData(360_000, "6m0s")]
    [InlineData(3_599_500, "1h0m")]
    [InlineData(3_599_000, "59m59s")]
    [InlineData(3_600_000, "1h0m")]
    [InlineData(10_920_000, "3h2m")]
    [InlineData(10_890_000, "3h2m")]
    [InlineData(1_209_600_000, "336h0m")]
    public void Writes_a_wait_as_openai_does_rounded_up(double milliseconds, string expected) =>
        Assert.Equal(expected, RateLimitHeaders.Duration(TimeSpan.FromMilliseconds(milliseconds)));

    [Fact]
    public void A_past_reset_is_no_wait() => Assert.Equal("0ms", RateLimitHeaders.Duration(TimeSpan.FromSeconds(-3)));

    [Fact]
    public void Names_the_request_window_and_the_token_window_with_the_fewest_tokens_left()
    {
        var plan = new QuotaPlan { RequestsPerMinute = 60, TokensPerMinute = 1_000, TokensPerDay = 5_000, TokensPerMonth = 100_000 };
        var usage = Usage(requests: 12, minute: (100, 50), day: (4_000, 50), month: (20_000, 50));

        var headers = RateLimitHeaders.Of(plan, usage, Now).ToDictionary(x => x.Name, x => x.Value);

        Assert.Equal(new Dictionary<string, string>
        {
            ["x-ratelimit-limit-requests"] = "60",
            ["x-ratelimit-remaining-requests"] = "48",
            ["x-ratelimit-reset-requests"] = "40s",
            // The day has 950 left, the minute 850: the minute is tighter.
            ["x-ratelimit-limit-tokens"] = "1000",
            ["x-ratelimit-remaining-tokens"] = "850",
            ["x-ratelimit-reset-tokens"] = "40s",
        }, headers);
    }

    [Fact]
    public void A_nearly_spent_day_is_tighter_than_a_fresh_minute_and_nothing_goes_below_zero()
    {
        var plan = new QuotaPlan { TokensPerMinute = 1_000, TokensPerDay = 5_000 };
        var usage = Usage(requests: 0, minute: (0, 0), day: (5_200, 0), month: (5_200, 0));

        var headers = RateLimitHeaders.Of(plan, usage, Now).ToDictionary(x => x.Name, x => x.Value);

        Assert.Equal(("5000", "0", "13h45m"), (headers["x-ratelimit-limit-tokens"], headers["x-ratelimit-remaining-tokens"],
            headers["x-ratelimit-reset-tokens"]));
        Assert.False(headers.ContainsKey("x-ratelimit-limit-requests"));
    }

    [Fact]
    public void A_plan_without_windows_has_no_headers() =>
        Assert.Empty(RateLimitHeaders.Of(new QuotaPlan { MaxConcurrent = 3 }, Usage(0, (0, 0), (0, 0), (0, 0)), Now));

    private static QuotaUsage Usage(long requests, (long Used, long Reserved) minute, (long Used, long Reserved) day, (long Used, long Reserved) month) => new(
        new QuotaWindowUsage(requests, 0, MinuteEnd),
        new QuotaWindowUsage(minute.Used, minute.Reserved, MinuteEnd),
        new QuotaWindowUsage(day.Used, day.Reserved, DayEnd),
        new QuotaWindowUsage(month.Used, month.Reserved, MonthEnd),
        new QuotaWindowUsage(0, 0, null));
}

public sealed class PlanLimits_Specs
{
    [Theory]
    [InlineData(1, 1_000, null)]
    [InlineData(1, 1_001, "tokens_per_day")]
    [InlineData(5, 10, "max_inputs_per_request")]
    public void Refuses_what_the_smallest_window_or_the_input_limit_could_never_admit(int inputs, long tokens, string? expected)
    {
        var plan = new QuotaPlan { TokensPerMinute = 5_000, TokensPerDay = 1_000, TokensPerMonth = 50_000, MaxInputsPerRequest = 4 };

        Assert.Equal(expected, PlanLimits.Exceeded(plan, inputs, tokens)?.Name);
    }

    [Fact]
    public void An_unlimited_plan_admits_anything() =>
        Assert.Null(PlanLimits.Exceeded(QuotaPlan.Unlimited, 10_000, long.MaxValue));
}
