using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;

namespace Inference.Server.Tests.Api;

public sealed class When_a_submission_carries_metadata_on_SQLite(EmbeddedApp app)
    : When_a_submission_carries_metadata<EmbeddedApp>(app);

public sealed class When_a_submission_carries_metadata_on_PostgreSQL(PostgresApp app)
    : When_a_submission_carries_metadata<PostgresApp>(app);

/// <summary>The submitter's labels are stored with the request and shown with it, keys exactly as sent, on each database.</summary>
public abstract class When_a_submission_carries_metadata<TApp>(TApp app) : IClassFixture<TApp>
    where TApp : EmbeddedApp
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_show_it_on_the_request_and_in_the_list_with_its_keys_as_sent()
    {
        // Keys in any case (the API's snake_case naming must not touch them), text beyond ASCII, and a tab, which the
        // text rule allows.
        var metadata = new Dictionary<string, string>
        {
            ["CustomerId"] = "c-42",
            ["job name"] = "nightly ✓ 😀",
            ["trace"] = "a\tb",
        };

        var id = await SubmitAsync(metadata);

        var read = await _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}");
        Assert.Equal(metadata, Metadata(read));
        var list = await _client.GetFromJsonAsync<JsonElement>("/v1/inferences?limit=100");
        var item = Assert.Single(list.GetProperty("data").EnumerateArray(), x => x.GetProperty("id").GetString() == id);
        Assert.Equal(metadata, Metadata(item));
        await _client.WaitUntilFinishedAsync(id);
    }

    [Fact]
    public async Task Should_accept_exactly_16_keys_of_64_characters_with_values_of_512()
    {
        var metadata = Enumerable.Range(0, 16).ToDictionary(i => $"{i:D2}" + new string('k', 62), i => new string((char)('a' + i), 512));

        var id = await SubmitAsync(metadata);

        var done = await _client.WaitUntilFinishedAsync(id);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal(metadata, Metadata(done));
    }

    [Fact]
    public async Task Should_show_null_for_a_request_without_metadata()
    {
        var accepted = await _client.SubmitAcceptedAsync("hello");
        var id = accepted.GetProperty("id").GetString()!;

        var read = await _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}");

        Assert.Equal(JsonValueKind.Null, read.GetProperty("metadata").ValueKind);
        await _client.WaitUntilFinishedAsync(id);
    }

    private async Task<string> SubmitAsync(Dictionary<string, string> metadata)
    {
        using var response = await _client.PostAsJsonAsync("/v1/inferences", new { model = InferencesClient.Model, input = "hello", metadata });
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    private static Dictionary<string, string> Metadata(JsonElement inference) =>
        inference.GetProperty("metadata").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
}

/// <summary>Every request here is refused, so the app never holds a saga and the dev tenant's quota stays untouched.</summary>
public sealed class When_metadata_breaks_a_rule(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    public static TheoryData<string, string, string> Refusals => new()
    {
        { "\"customer\"", "metadata_invalid", "metadata" },
        { "[\"a\"]", "metadata_invalid", "metadata" },
        { "{\"a\":1}", "metadata_invalid", "metadata.a" },
        { "{\"a\":null}", "metadata_invalid", "metadata.a" },
        { "{\"a\":{\"b\":\"c\"}}", "metadata_invalid", "metadata.a" },
        { "{\"\":\"x\"}", "metadata_invalid", "metadata." },
        { "{\"a\":\"1\",\"a\":\"2\"}", "metadata_invalid", "metadata.a" },
        { Keys(17), "metadata_too_many_keys", "metadata" },
        { $"{{\"{new string('k', 65)}\":\"x\"}}", "metadata_key_too_long", $"metadata.{new string('k', 64)}…" },
        { $"{{\"a\":\"{new string('v', 513)}\"}}", "metadata_value_too_long", "metadata.a" },
        { "{\"a\":\"x\\u0000y\"}", "metadata_invalid_character", "metadata.a" },
        { "{\"k\\u001b\":\"v\"}", "metadata_invalid_character", "metadata.k\\u001B" },
        { "{\"a\":\"\\udc00\"}", "metadata_invalid_unicode", "metadata.a" },
        { "{\"\\ud800\":\"x\"}", "metadata_invalid_unicode", "metadata.\\uD800" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Should_refuse_it_naming_the_field_and_store_nothing(string metadata, string code, string field)
    {
        using var response = await _client.SubmitJsonAsync($$"""{"model":"{{InferencesClient.Model}}","input":"hello","metadata":{{metadata}}}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, code);
        var error = problem.GetProperty("errors")[0];
        Assert.Equal((field, code), (error.GetProperty("field").GetString(), error.GetProperty("code").GetString()));
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_answer_a_huge_object_with_one_error()
    {
        var metadata = "{" + string.Join(',', Enumerable.Range(0, 20_000).Select(i => $"\"k{i}\":{i}")) + "}";

        using var response = await _client.SubmitJsonAsync($$"""{"model":"{{InferencesClient.Model}}","input":"hello","metadata":{{metadata}}}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "metadata_too_many_keys");
        Assert.Single(problem.GetProperty("errors").EnumerateArray());
        Assert.Contains("20000 keys", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    private static string Keys(int count) =>
        "{" + string.Join(',', Enumerable.Range(0, count).Select(i => $"\"k{i}\":\"v\"")) + "}";
}
