using System.Net;
using Inference.Server.Api;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Api;

/// <summary>The dev tenant behind limits small enough to reach in a spec: 40 characters per input.</summary>
public sealed class SmallLimitsApp() : EmbeddedApp(new Dictionary<string, string?>
{
    ["Api:MaxInputCharacters"] = MaxInputCharacters.ToString(System.Globalization.CultureInfo.InvariantCulture),
})
{
    public const int MaxInputCharacters = 40;
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
}

public sealed class When_a_submission_is_exactly_at_the_size_limits(SmallLimitsApp app) : IClassFixture<SmallLimitsApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_accept_an_input_of_exactly_the_character_limit()
    {
        await _client.SubmitAcceptedAsync(new[] { new string('a', SmallLimitsApp.MaxInputCharacters) });
    }
}

public sealed class When_a_size_limit_is_configured_out_of_range
{
    [Theory]
    [InlineData(nameof(ApiOptions.MaxInputCharacters), "0")]
    public async Task Should_refuse_to_start(string setting, string value)
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?> { [$"Api:{setting}"] = value });

        var failure = Record.Exception(() => app.Server);

        var invalid = Assert.IsType<OptionsValidationException>(failure);
        Assert.Contains(setting, invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_default_to_a_limit_no_real_request_reaches()
    {
        var defaults = new ApiOptions();

        Assert.Equal(100_000, defaults.MaxInputCharacters);
    }
}
