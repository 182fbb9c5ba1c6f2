using System.Net;
using Inference.Server.Api;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Api;

/// <summary>The dev tenant behind limits small enough to reach in a spec: 40 characters per input, 2 KiB per body.</summary>
public sealed class SmallLimitsApp() : EmbeddedApp(new Dictionary<string, string?>
{
    ["Api:MaxInputCharacters"] = MaxInputCharacters.ToString(System.Globalization.CultureInfo.InvariantCulture),
    ["Api:MaxRequestBodyBytes"] = MaxRequestBodyBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
})
{
    public const int MaxInputCharacters = 40;

    public const int MaxRequestBodyBytes = 2048;
}

/// <summary>Every request here is over a limit, so the app never holds a saga and the dev tenant's quota stays untouched.</summary>
public sealed class When_a_submission_is_over_a_size_limit(SmallLimitsApp app) : IClassFixture<SmallLimitsApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_refuse_an_input_longer_than_the_character_limit_and_say_it_counts_characters()
    {
        // One "word" of 41 letters is a single [UNK] token: only the character limit stops it.
        using var response = await _client.SubmitAsync(new[] { "hello", new string('a', SmallLimitsApp.MaxInputCharacters + 1) });

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "input_too_long");
        var error = Assert.Single(problem.GetProperty("errors").EnumerateArray());
        Assert.Equal(("input[1]", "input_too_long"), (error.GetProperty("field").GetString(), error.GetProperty("code").GetString()));
        Assert.Contains("41 characters", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("at most 40", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Theory]
    [InlineData(SmallLimitsApp.MaxRequestBodyBytes + 1, false)]
    [InlineData(SmallLimitsApp.MaxRequestBodyBytes + 1, true)]
    [InlineData(1_000_000, false)]
    [InlineData(1_000_000, true)]
    public async Task Should_answer_413_to_a_body_over_the_byte_limit(int bytes, bool chunked)
    {
        using var response = await _client.SubmitBytesAsync(InferencesClient.RequestOfSize(bytes), chunked);

        var problem = await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        Assert.Contains($"{SmallLimitsApp.MaxRequestBodyBytes} bytes", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }
}

public sealed class When_a_submission_is_exactly_at_the_size_limits(SmallLimitsApp app) : IClassFixture<SmallLimitsApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_accept_an_input_of_exactly_the_character_limit()
    {
        await _client.SubmitAcceptedAsync(new[] { new string('a', SmallLimitsApp.MaxInputCharacters) });
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Should_accept_a_body_of_exactly_the_byte_limit(bool chunked)
    {
        using var response = await _client.SubmitBytesAsync(InferencesClient.RequestOfSize(SmallLimitsApp.MaxRequestBodyBytes), chunked);

        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
    }
}

public sealed class When_a_size_limit_is_configured_out_of_range
{
    [Theory]
    [InlineData(nameof(ApiOptions.MaxInputCharacters), "0")]
    [InlineData(nameof(ApiOptions.MaxRequestBodyBytes), "1023")]
    [InlineData(nameof(ApiOptions.MaxRequestBodyBytes), "1073741825")]
    public async Task Should_refuse_to_start(string setting, string value)
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?> { [$"Api:{setting}"] = value });

        var failure = Record.Exception(() => app.Server);

        var invalid = Assert.IsType<OptionsValidationException>(failure);
        Assert.Contains(setting, invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_default_to_limits_no_real_request_reaches()
    {
        var defaults = new ApiOptions();

        Assert.Equal((100_000, 8 * 1024 * 1024), (defaults.MaxInputCharacters, defaults.MaxRequestBodyBytes));
    }
}
