using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

public sealed class When_a_caller_presents_an_api_key(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    private const string UnknownId = "00000000-0000-0000-0000-000000000001";

    [Fact]
    public async Task Should_accept_the_key_as_a_bearer_token()
    {
        using var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", InferenceAppFactory.ApiKey);

        var accepted = await client.SubmitAcceptedAsync("hello world");

        using var read = await client.GetAsync(accepted.GetProperty("urls").GetProperty("get").GetString());
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    [Fact]
    public async Task Should_accept_the_key_in_x_api_key()
    {
        using var client = app.CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", InferenceAppFactory.ApiKey);

        var accepted = await client.SubmitAcceptedAsync("hello world");

        using var read = await client.GetAsync(accepted.GetProperty("urls").GetProperty("get").GetString());
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("Authorization", "Bearer not-the-key")]
    [InlineData("Authorization", "Bearer ")]
    [InlineData("Authorization", "Basic dGVzdC1kZXYta2V5")] // the right key, in a scheme the API does not take
    [InlineData("X-Api-Key", "not-the-key")]
    public async Task Should_answer_401_with_a_bearer_challenge_to_a_missing_or_wrong_key(string? header, string? value)
    {
        using var client = app.CreateClient();
        if (header is not null)
            client.DefaultRequestHeaders.TryAddWithoutValidation(header, value);
        var countBefore = await app.Services.InferenceCountAsync();

        using var submit = await client.SubmitAsync("hello world");
        using var read = await client.GetAsync($"/v1/inferences/{UnknownId}");

        foreach (var response in new[] { submit, read })
        {
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
            Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        }

        Assert.Equal(countBefore, await app.Services.InferenceCountAsync());
    }

    [Fact]
    public async Task Should_answer_401_to_a_revoked_key()
    {
        const string revokedKey = "revoked-dev-key";
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            db.ApiKeys.Add(new ApiKey
            {
                Id = Guid.NewGuid(),
                TenantId = DevTenantSeeder.TenantId,
                KeyHash = ApiKeyHash.Of(revokedKey),
                CreatedAt = DateTimeOffset.UtcNow.AddDays(-2),
                RevokedAt = DateTimeOffset.UtcNow.AddDays(-1),
            });
            await db.SaveChangesAsync();
        }

        using var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", revokedKey);

        using var response = await client.SubmitAsync("hello world");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }
}

public sealed class When_a_tenant_reads_an_inference(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    [Theory]
    [InlineData("00000000-0000-0000-0000-000000000001")]
    [InlineData("not-a-guid")]
    [InlineData("12345")]
    public async Task Should_answer_404_to_an_id_that_is_not_an_inference(string id)
    {
        using var client = app.CreateDevClient();

        using var response = await client.GetAsync($"/v1/inferences/{id}");

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "inference_not_found");
    }

    [Fact]
    public async Task Should_answer_404_to_another_tenants_inference_as_if_it_did_not_exist()
    {
        using var dev = app.CreateDevClient();
        using var other = await CreateTenantClientAsync("other-tenant");
        var devsId = (await dev.SubmitAcceptedAsync("hello world")).GetProperty("id").GetString()!;
        var othersId = (await other.SubmitAcceptedAsync("hello world")).GetProperty("id").GetString()!;

        using var othersReadOfDevs = await other.GetAsync($"/v1/inferences/{devsId}");
        using var devsReadOfOthers = await dev.GetAsync($"/v1/inferences/{othersId}");
        using var devsReadOfDevs = await dev.GetAsync($"/v1/inferences/{devsId}");
        using var othersReadOfOthers = await other.GetAsync($"/v1/inferences/{othersId}");

        await othersReadOfDevs.AssertProblemAsync(HttpStatusCode.NotFound, "inference_not_found");
        await devsReadOfOthers.AssertProblemAsync(HttpStatusCode.NotFound, "inference_not_found");
        Assert.Equal(HttpStatusCode.OK, devsReadOfDevs.StatusCode);
        Assert.Equal(HttpStatusCode.OK, othersReadOfOthers.StatusCode);
    }

    [Fact]
    public async Task Should_word_another_tenants_404_exactly_like_an_unknown_ids()
    {
        using var dev = app.CreateDevClient();
        using var other = await CreateTenantClientAsync("nosy-tenant");
        var devsId = (await dev.SubmitAcceptedAsync("hello world")).GetProperty("id").GetString()!;
        var unknownId = Guid.NewGuid().ToString();

        using var foreign = await other.GetAsync($"/v1/inferences/{devsId}");
        using var unknown = await other.GetAsync($"/v1/inferences/{unknownId}");

        // Nothing in the answer may tell a prober that the id exists elsewhere.
        var foreignBody = (await foreign.Content.ReadAsStringAsync()).Replace(devsId, "{id}", StringComparison.Ordinal);
        var unknownBody = (await unknown.Content.ReadAsStringAsync()).Replace(unknownId, "{id}", StringComparison.Ordinal);
        Assert.Equal(WithoutTraceId(unknownBody), WithoutTraceId(foreignBody));
    }

    /// <summary>A second tenant with its own key, written the way an operator's tooling would: to the database.</summary>
    private async Task<HttpClient> CreateTenantClientAsync(string tenantId)
    {
        var key = $"{tenantId}-key";
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            db.Tenants.Add(new Tenant { Id = tenantId, Name = tenantId, CreatedAt = DateTimeOffset.UtcNow });
            db.ApiKeys.Add(new ApiKey
            {
                Id = Guid.NewGuid(), TenantId = tenantId, KeyHash = ApiKeyHash.Of(key), CreatedAt = DateTimeOffset.UtcNow,
            });
            await db.SaveChangesAsync();
        }

        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>The problem's members other than <c>trace_id</c>, which differs between any two requests.</summary>
    private static string WithoutTraceId(string problem) =>
        string.Join(',', JsonDocument.Parse(problem).RootElement.EnumerateObject()
            .Where(member => member.Name != "trace_id")
            .Select(member => $"{member.Name}={member.Value.GetRawText()}"));
}
