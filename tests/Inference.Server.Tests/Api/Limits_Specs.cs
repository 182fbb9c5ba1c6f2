using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
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

        Assert.Equal((100_000, 1024 * 1024, 128), (defaults.MaxInputCharacters, defaults.MaxRequestBodyBytes, defaults.MaxInputsPerRequest));
    }
}

/// <summary>The limits a client meets with no setting changed: 128 inputs, 1 MiB.</summary>
public sealed class When_a_submission_meets_the_default_limits(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    private const int OneMiB = 1024 * 1024;

    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_accept_128_inputs()
    {
        var accepted = await _client.SubmitAcceptedAsync(Enumerable.Range(0, 128).Select(i => $"sentence {i}").ToArray());

        var done = await _client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);
        Assert.Equal(128, done.GetProperty("output").GetProperty("embeddings").GetArrayLength());
    }

    [Fact]
    public async Task Should_refuse_129_inputs_with_too_many_inputs()
    {
        using var response = await _client.SubmitAsync(Enumerable.Repeat("hello", 129).ToArray());

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "too_many_inputs");
        Assert.Contains("129", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Should_answer_413_to_a_body_one_byte_over_1_MiB(bool chunked)
    {
        using var response = await _client.SubmitBytesAsync(InferencesClient.RequestOfSize(OneMiB + 1), chunked);

        var problem = await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        Assert.Contains($"{OneMiB} bytes", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_accept_a_body_of_exactly_1_MiB()
    {
        using var response = await _client.SubmitBytesAsync(InferencesClient.RequestOfSize(OneMiB), chunked: false);

        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await _client.WaitUntilFinishedAsync(id);
    }
}

/// <summary>An operator raises the input limit, up to the saga's own ceiling of 2048.</summary>
public sealed class When_the_input_limit_is_configured
{
    [Fact]
    public async Task Should_hold_clients_to_the_configured_number()
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?> { ["Api:MaxInputsPerRequest"] = "3" });
        using var client = app.CreateDevClient();

        using var refused = await client.SubmitAsync(new[] { "a b", "c d", "e f", "g h" });

        var problem = await refused.AssertProblemAsync(HttpStatusCode.BadRequest, "too_many_inputs");
        Assert.Contains("at most 3", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var accepted = await client.SubmitAcceptedAsync(new[] { "a b", "c d", "e f" });
        await client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("2049")]
    public async Task Should_refuse_to_start_outside_1_to_2048(string value)
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?> { ["Api:MaxInputsPerRequest"] = value });

        var failure = Record.Exception(() => app.Server);

        var invalid = Assert.IsType<OptionsValidationException>(failure);
        Assert.Contains(nameof(ApiOptions.MaxInputsPerRequest), invalid.Message, StringComparison.Ordinal);
    }
}
