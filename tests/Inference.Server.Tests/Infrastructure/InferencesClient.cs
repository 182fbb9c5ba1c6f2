using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Inference.Server.Persistence;
using Inference.Server.Quota;
using Inference.Server.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Infrastructure;

/// <summary>
/// The REST surface as a client sees it. Bodies are read as raw JSON, not as the server's own records, so that the
/// specs hold the wire names (snake_case) to the contract.
/// </summary>
internal static class InferencesClient
{
    public const string Model = "all-minilm-l6-v2";

    private static readonly string[] FinalStatuses = ["completed", "failed", "canceled"];

    public static Task<HttpResponseMessage> SubmitAsync(this HttpClient client, object input) =>
        client.PostAsJsonAsync("/v1/inferences", new { model = Model, input });

    public static Task<HttpResponseMessage> SubmitJsonAsync(this HttpClient client, string json) =>
        client.PostAsync("/v1/inferences", new StringContent(json, Encoding.UTF8, "application/json"));

    /// <summary>A valid request padded with trailing white space (which JSON allows) to exactly <paramref name="bytes"/>.</summary>
    public static byte[] RequestOfSize(int bytes)
    {
        var json = $$"""{"model":"{{Model}}","input":"hello world"}""";
        return Encoding.UTF8.GetBytes(json + new string(' ', bytes - json.Length));
    }

    /// <summary>
    /// Posts <paramref name="body"/> as JSON, either with its Content-Length or, when <paramref name="chunked"/>, as a body of
    /// unknown length (chunked over a real connection), which a server can only measure while it reads.
    /// </summary>
    public static Task<HttpResponseMessage> SubmitBytesAsync(this HttpClient client, byte[] body, bool chunked)
    {
        HttpContent content = chunked ? new UnknownLengthContent(body) : new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");
        return client.PostAsync("/v1/inferences", content);
    }

    /// <summary>Submits and expects the request to be accepted; returns the 202's body.</summary>
    public static async Task<JsonElement> SubmitAcceptedAsync(this HttpClient client, object input)
    {
        using var response = await client.SubmitAsync(input);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted,
            $"Expected 202, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>
    /// Polls <c>GET /v1/inferences/{id}</c> until the request reaches a final status, and returns that body. A 404
    /// counts as "not yet" only with <paramref name="notStoredYet"/>: for a request sent straight to the bus, or accepted
    /// before an orchestrator stored it, which the saga may not have stored yet.
    /// </summary>
    public static async Task<JsonElement> WaitUntilFinishedAsync(this HttpClient client, string id, bool notStoredYet = false)
    {
        var finished = await Poll.UntilAsync(
            async () =>
            {
                using var response = await client.GetAsync($"/v1/inferences/{id}");
                if (notStoredYet && response.StatusCode == HttpStatusCode.NotFound)
                    return (JsonElement?)null;
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                return await response.Content.ReadFromJsonAsync<JsonElement>();
            },
            inference => inference is { } body && FinalStatuses.Contains(body.GetProperty("status").GetString()),
            $"inference {id} to finish");
        return finished!.Value;
    }

    /// <summary>Submits and waits for the request to complete; returns the final GET body.</summary>
    public static async Task<JsonElement> CompleteAsync(this HttpClient client, object input)
    {
        var accepted = await client.SubmitAcceptedAsync(input);
        var inference = await client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);
        Assert.True(inference.GetProperty("status").GetString() == "completed", $"Expected completed, got {inference}");
        return inference;
    }

    public static float[][] Embeddings(this JsonElement inference) =>
        [.. inference.GetProperty("output").GetProperty("embeddings").EnumerateArray()
            .Select(vector => vector.EnumerateArray().Select(x => x.GetSingle()).ToArray())];

    /// <summary>
    /// Asserts an RFC 9457 problem: the status, <c>application/problem+json</c>, every member a client reads
    /// (<c>type</c>, <c>title</c>, <c>status</c>, <c>detail</c>) and the stable <c>code</c>. Returns the body.
    /// </summary>
    public static async Task<JsonElement> AssertProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("type").GetString()), body);
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()), body);
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()), body);
        return problem;
    }

    /// <summary>
    /// Asserts OpenAI's error body, which the OpenAI-compatible routes answer with: the status, <c>application/json</c>,
    /// <c>{"error": {"message", "type", "param", "code"}}</c> with every member present. Returns <c>error</c>.
    /// </summary>
    public static async Task<JsonElement> AssertOpenAiErrorAsync(this HttpResponseMessage response, HttpStatusCode status, string code, string type)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var root = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal(["error"], root.EnumerateObject().Select(member => member.Name));
        var error = root.GetProperty("error");
        Assert.Equal(["message", "type", "param", "code"], error.EnumerateObject().Select(member => member.Name));
        Assert.Equal((code, type), (error.GetProperty("code").GetString(), error.GetProperty("type").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()), body);
        return error;
    }

    public static async Task<QuotaUsage> DevUsageAsync(this IServiceProvider services) =>
        await services.GetRequiredService<IQuotaLedger>().GetUsageAsync(DevTenantSeeder.TenantId);

    /// <summary>Asserts that the app has neither stored a request nor counted a token for the dev tenant: what every refused
    /// request must leave behind, in an app that has accepted none.</summary>
    public static async Task AssertNothingReservedOrStoredAsync(this IServiceProvider services)
    {
        var usage = await services.DevUsageAsync();
        Assert.Equal((0L, 0L), (usage.MinuteTokens.Total, usage.DayTokens.Total));
        Assert.Equal(0, await services.InferenceCountAsync());
    }

    /// <summary>Adds a tenant with a key of its own, as an operator's tooling would (to the database); returns the key.</summary>
    public static async Task<string> AddTenantAsync(this IServiceProvider services, string tenantId)
    {
        var key = $"{tenantId}-key-{Guid.NewGuid():N}";
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        db.Tenants.Add(new Tenant { Id = tenantId, Name = tenantId, CreatedAt = DateTimeOffset.UtcNow });
        db.ApiKeys.Add(new ApiKey { Id = Guid.NewGuid(), TenantId = tenantId, KeyHash = ApiKeyHash.Of(key), CreatedAt = DateTimeOffset.UtcNow });
        await db.SaveChangesAsync();
        return key;
    }

    public static async Task<int> InferenceCountAsync(this IServiceProvider services)
    {
        await using var scope = services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences.CountAsync();
    }

    private sealed class UnknownLengthContent(byte[] body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
