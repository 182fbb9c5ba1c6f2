using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Inference.Server.Api;
using Inference.Server.Idempotency;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Inference.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

public sealed class When_a_submission_carries_an_Idempotency_Key_embedded(EmbeddedApp fixture)
    : Idempotency_Specs<EmbeddedApp>(fixture);

public sealed class When_a_submission_carries_an_Idempotency_Key_on_the_real_services(PostgresApp fixture)
    : Idempotency_Specs<PostgresApp>(fixture);

/// <summary>
/// <c>Idempotency-Key</c> on <c>POST /v1/inferences</c>: one key of one tenant names one request for 24 hours, however
/// often and however concurrently it is sent; the database's count of requests is the proof that nothing was created,
/// reserved or run twice.
/// </summary>
public abstract class Idempotency_Specs<TApp>(TApp fixture) : IClassFixture<TApp>
    where TApp : EmbeddedApp
{
    private const string Body = $$"""{"model":"{{InferencesClient.Model}}","input":["the same words"]}""";

    private readonly HttpClient _client = fixture.CreateDevClient();

    [Fact]
    public async Task Should_answer_a_second_submission_with_the_first_request_and_create_nothing()
    {
        var key = NewKey();
        using var first = await SubmitAsync(key, Body);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.False(first.Headers.Contains(IdempotencyKeys.ReplayedHeaderName));
        var id = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        // The same request written differently (spacing, member order) is the same request.
        using var second = await SubmitAsync(key, $$"""  { "input" : [ "the same words" ] , "model" : "{{InferencesClient.Model}}" }""");

        Assert.Contains(second.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.Accepted });
        Assert.Equal("true", Assert.Single(second.Headers.GetValues(IdempotencyKeys.ReplayedHeaderName)));
        Assert.Equal(id, (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
        Assert.Equal(1, await RequestsWithKeyAsync(key));
    }

    [Fact]
    public async Task Should_answer_200_with_the_request_as_get_shows_it_once_it_has_ended()
    {
        var key = NewKey();
        using var first = await SubmitAsync(key, Body);
        var id = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await _client.WaitUntilFinishedAsync(id);

        using var again = await SubmitAsync(key, Body);

        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(await _client.GetStringAsync($"/v1/inferences/{id}"), await again.Content.ReadAsStringAsync());
        Assert.Equal(1, await RequestsWithKeyAsync(key));
    }

    [Fact]
    public async Task Should_create_one_request_for_concurrent_submissions_with_one_key()
    {
        var key = NewKey();

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            using var response = await SubmitAsync(key, Body);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
            return JsonDocument.Parse(body).RootElement.GetProperty("id").GetString();
        }));

        Assert.Single(answers.Distinct());
        Assert.Equal(1, await RequestsWithKeyAsync(key));
    }

    [Theory]
    [InlineData($$"""{"model":"{{InferencesClient.Model}}","input":["other words"]}""", null)]
    [InlineData(Body, "30s")]
    public async Task Should_refuse_the_key_for_a_different_body_or_Cancel_After_with_422(string body, string? cancelAfter)
    {
        var key = NewKey();
        using var first = await SubmitAsync(key, Body);
        var id = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        using var other = await SubmitAsync(key, body, cancelAfter);

        var problem = await other.AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");
        Assert.Equal(id, problem.GetProperty("inference_id").GetString());
        Assert.Equal(1, await RequestsWithKeyAsync(key));
    }

    [Fact]
    public async Task Should_keep_the_keys_of_two_tenants_apart()
    {
        var key = NewKey();
        using var other = await CreateTenantClientAsync();
        using var mine = await SubmitAsync(key, Body);
        using var theirs = await SubmitAsync(key, Body, client: other);

        Assert.Equal((HttpStatusCode.Accepted, HttpStatusCode.Accepted), (mine.StatusCode, theirs.StatusCode));
        Assert.NotEqual(
            (await mine.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString(),
            (await theirs.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
    }

    [Fact]
    public async Task Should_let_a_key_name_a_new_request_once_its_24_hours_are_over()
    {
        var key = NewKey();
        using var first = await SubmitAsync(key, Body);
        var firstId = Guid.Parse((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        await AgeKeyAsync(key, IdempotencyKeys.Window + TimeSpan.FromSeconds(1));

        // Even a different body: the key is free again (retention has not deleted it yet; the submission does).
        using var second = await SubmitAsync(key, $$"""{"model":"{{InferencesClient.Model}}","input":"new words"}""");

        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        var secondId = Guid.Parse((await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        Assert.NotEqual(firstId, secondId);
        await using var scope = fixture.Services.CreateAsyncScope();
        var stored = await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().IdempotencyKeys
            .SingleAsync(x => x.TenantId == "dev" && x.Key == key);
        Assert.Equal(secondId, stored.InferenceId);
    }

    [Fact]
    public async Task Should_store_no_key_for_a_refused_submission_so_the_corrected_one_goes_through()
    {
        var key = NewKey();
        using var refused = await SubmitAsync(key, $$"""{"model":"{{InferencesClient.Model}}","input":[]}""");
        await refused.AssertProblemAsync(HttpStatusCode.BadRequest, "input_empty");

        using var corrected = await SubmitAsync(key, Body);

        Assert.Equal(HttpStatusCode.Accepted, corrected.StatusCode);
        Assert.False(corrected.Headers.Contains(IdempotencyKeys.ReplayedHeaderName));
    }

    [Theory]
    [InlineData("""{"model":"all-minilm-l6-v2","input":["ok","lone \ud800"]}""", "input_invalid_unicode")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":["nul \u0000"]}""", "input_invalid_character")]
    [InlineData("""{"model":"lone \udc00","input":"x"}""", "model_not_found")]
    public async Task Should_refuse_text_no_store_can_hold_with_its_code_and_a_key_as_without_one(string body, string code)
    {
        var key = NewKey();
        using var first = await SubmitAsync(key, Body);

        using var refused = await SubmitAsync(key, body);
        using var fresh = await SubmitAsync(NewKey(), body);

        await refused.AssertProblemAsync(HttpStatusCode.BadRequest, code);
        await fresh.AssertProblemAsync(HttpStatusCode.BadRequest, code);
    }

    [Fact]
    public async Task Should_answer_a_replay_that_prefers_to_wait_with_the_ended_request()
    {
        var key = NewKey();
        using var first = await SubmitAsync(key, Body);
        var id = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        using var request = Request(key, Body);
        request.Headers.Add(PreferWaitHeader.Name, "wait=20");
        using var again = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var inference = await again.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((id, "completed"), (inference.GetProperty("id").GetString(), inference.GetProperty("status").GetString()));
    }

    [Theory]
    [InlineData("\"\"")]
    [InlineData("tab\there")]
    [InlineData("x", 256)]
    public async Task Should_refuse_a_key_that_is_empty_too_long_or_not_printable_ASCII(string key, int repeat = 1)
    {
        using var request = Request(null, Body);
        request.Headers.TryAddWithoutValidation(IdempotencyKeys.HeaderName, string.Concat(Enumerable.Repeat(key, repeat)));

        using var response = await _client.SendAsync(request);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "idempotency_key_invalid");
    }

    [Fact]
    public async Task Should_refuse_two_keys()
    {
        using var request = Request(null, Body);
        request.Headers.TryAddWithoutValidation(IdempotencyKeys.HeaderName, new[] { "one", "two" });

        using var response = await _client.SendAsync(request);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "idempotency_key_invalid");
    }

    [Fact]
    public async Task Should_take_a_quoted_key_as_the_same_key_unquoted()
    {
        var key = NewKey();
        using var first = await SubmitAsync(key, Body);
        using var quoted = await SubmitAsync($"\"{key}\"", Body);

        Assert.Equal("true", Assert.Single(quoted.Headers.GetValues(IdempotencyKeys.ReplayedHeaderName)));
        Assert.Equal(1, await RequestsWithKeyAsync(key));
    }

    private static string NewKey() => $"key-{Guid.NewGuid():N}";

    private static HttpRequestMessage Request(string? key, string body, string? cancelAfter = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/inferences")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (key is not null)
            request.Headers.TryAddWithoutValidation(IdempotencyKeys.HeaderName, key);
        if (cancelAfter is not null)
            request.Headers.Add(CancelAfterHeader.Name, cancelAfter);
        return request;
    }

    private Task<HttpResponseMessage> SubmitAsync(string key, string body, string? cancelAfter = null, HttpClient? client = null) =>
        (client ?? _client).SendAsync(Request(key, body, cancelAfter));

    /// <summary>Requests the key's tenant has under it: what the key's row names, and nothing else with the same body.</summary>
    private async Task<int> RequestsWithKeyAsync(string key)
    {
        await using var scope = fixture.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        var named = await db.IdempotencyKeys.Where(x => x.TenantId == "dev" && x.Key == key).Select(x => x.InferenceId).ToListAsync();
        var created = await db.Inferences.CountAsync(x => named.Contains(x.CorrelationId));
        Assert.Equal(named.Count, created);
        return named.Count;
    }

    private async Task AgeKeyAsync(string key, TimeSpan age)
    {
        await using var scope = fixture.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        var createdAt = DateTimeOffset.UtcNow - age;
        await db.IdempotencyKeys.Where(x => x.TenantId == "dev" && x.Key == key)
            .ExecuteUpdateAsync(x => x.SetProperty(k => k.CreatedAt, createdAt));
    }

    private async Task<HttpClient> CreateTenantClientAsync()
    {
        var tenantId = $"t-{Guid.NewGuid():N}"[..20];
        var apiKey = $"{tenantId}-key";
        await using (var scope = fixture.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            db.Tenants.Add(new Tenant { Id = tenantId, Name = tenantId, CreatedAt = DateTimeOffset.UtcNow });
            db.ApiKeys.Add(new ApiKey { Id = Guid.NewGuid(), TenantId = tenantId, KeyHash = ApiKeyHash.Of(apiKey), CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync();
        }

        var client = fixture.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }
}
