using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Inference.Server.Tests.Api;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Usage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Usage;

public sealed class When_usage_is_billed_and_reported_on_SQLite(UsageApp app) : Usage_Specs<UsageApp>(app);

public sealed class When_usage_is_billed_and_reported_on_PostgreSQL(PostgresUsageApp app) : Usage_Specs<PostgresUsageApp>(app);

/// <summary>
/// The usage ledger in the running app: what real requests leave in it, and the reports of <c>GET /v1/usage</c> and
/// <c>GET /admin/v1/tenants/{id}/usage</c> over records written directly, with sums known to the token.
/// </summary>
public abstract class Usage_Specs<TApp>(TApp app) : IClassFixture<TApp>
    where TApp : EmbeddedApp
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_record_a_completed_request_once_with_its_real_tokens_by_the_time_it_shows_completed()
    {
        var done = await _client.CompleteAsync(new[] { "hello world", "the usage ledger" });
        var id = Guid.Parse(done.GetProperty("id").GetString()!);

        // No wait: the record commits with the transition that GET shows.
        var record = Assert.Single(await RecordsAsync(id));
        var usage = done.GetProperty("usage");
        Assert.True(usage.GetProperty("prompt_tokens").GetInt64() > 0, done.ToString());
        Assert.Equal(
            (usage.GetProperty("prompt_tokens").GetInt64(), usage.GetProperty("completion_tokens").GetInt64(), usage.GetProperty("total_tokens").GetInt64()),
            (record.PromptTokens, record.CompletionTokens, record.TotalTokens));
        Assert.Equal((DevTenantSeeder.TenantId, InferencesClient.Model), (record.TenantId, record.Model));
        await using var scope = app.Services.CreateAsyncScope();
        var saga = await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences.AsNoTracking().SingleAsync(x => x.CorrelationId == id);
        Assert.Equal((saga.CreatedAt, saga.UpdatedAt), (record.SubmittedAt, record.CompletedAt));
    }

    [Fact]
    public async Task Should_record_nothing_for_a_request_that_failed()
    {
        var tenantId = NewTenantId();
        var key = await app.Services.AddTenantAsync(tenantId);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            // Twenty tokens a day: a second request of sixteen is refused, and it fails.
            await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Tenants.Where(x => x.Id == tenantId)
                .ExecuteUpdateAsync(set => set.SetProperty(x => x.TokensPerDay, 20));
        }

        using var client = ClientOf(key);
        var sixteenTokens = string.Join(' ', Enumerable.Repeat("word", 14));
        await client.SubmitAcceptedAsync(sixteenTokens);
        using var response = await client.SubmitAsync(sixteenTokens);
        var problem = await response.AssertProblemAsync(HttpStatusCode.TooManyRequests, "quota_daily_tokens");
        var id = problem.GetProperty("inference_id").GetString()!;

        var failed = await client.WaitUntilFinishedAsync(id);
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Empty(await RecordsAsync(Guid.Parse(id)));
    }

    [Fact]
    public async Task Should_record_nothing_for_a_request_that_was_canceled()
    {
        var accepted = await _client.SubmitAcceptedAsync(SlowRequest.Body());
        var id = accepted.GetProperty("id").GetString()!;

        using (var cancel = await _client.PostAsync($"/v1/inferences/{id}/cancel", null))
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);

        var canceled = await _client.WaitUntilFinishedAsync(id);
        Assert.Equal("canceled", canceled.GetProperty("status").GetString());
        Assert.Empty(await RecordsAsync(Guid.Parse(id)));
    }

    [Fact]
    public async Task Should_report_the_tenants_usage_per_UTC_day_with_exact_sums_over_a_half_open_range()
    {
        var (tenantId, key) = await SeedAsync();
        using var client = ClientOf(key);

        var report = await GetAsync(client, "/v1/usage?from=2026-11-01T01:00:00%2B01:00&to=2026-11-03");

        Assert.Equal("usage", report.GetProperty("object").GetString());
        Assert.Equal(tenantId, report.GetProperty("tenant_id").GetString());
        Assert.Equal("day", report.GetProperty("group_by").GetString());
        Assert.Equal(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero), report.GetProperty("from").GetDateTimeOffset());
        Assert.Equal(new DateTimeOffset(2026, 11, 3, 0, 0, 0, TimeSpan.Zero), report.GetProperty("to").GetDateTimeOffset());
        Assert.Equal(["2026-11-01|2|12|1|13", "2026-11-02|1|3|2|5"], Rows(report, "day"));
        Assert.Equal("3|15|3|18", Sums(report.GetProperty("total")));
    }

    [Fact]
    public async Task Should_report_the_tenants_usage_per_model()
    {
        var (_, key) = await SeedAsync();
        using var client = ClientOf(key);

        var report = await GetAsync(client, "/v1/usage?from=2026-11-01&to=2026-11-03&group_by=model");

        Assert.Equal("model", report.GetProperty("group_by").GetString());
        Assert.Equal(["model-a|2|8|3|11", "model-b|1|7|0|7"], Rows(report, "model"));
        Assert.Equal("3|15|3|18", Sums(report.GetProperty("total")));
    }

    [Fact]
    public async Task Should_report_only_the_callers_own_tenant()
    {
        var (_, key) = await SeedAsync();
        var (_, otherKey) = await SeedAsync(scale: 1000);
        using var client = ClientOf(key);
        using var other = ClientOf(otherKey);

        Assert.Equal("3|15|3|18", Sums((await GetAsync(client, "/v1/usage?from=2026-11-01&to=2026-11-03")).GetProperty("total")));
        Assert.Equal("3|15000|3000|18000", Sums((await GetAsync(other, "/v1/usage?from=2026-11-01&to=2026-11-03")).GetProperty("total")));
    }

    [Fact]
    public async Task Should_report_from_the_start_of_the_current_UTC_month_to_now_by_default()
    {
        var tenantId = NewTenantId();
        var key = await app.Services.AddTenantAsync(tenantId);
        var now = DateTimeOffset.UtcNow;
        var monthStart = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        await AddRecordsAsync(
            Record(tenantId, "model-a", monthStart.AddTicks(-10), 100, 0), // last month
            Record(tenantId, "model-a", monthStart, 4, 1),
            Record(tenantId, "model-a", now.AddSeconds(-2), 6, 0),
            Record(tenantId, "model-a", now.AddHours(1), 1000, 0)); // not yet

        using var client = ClientOf(key);
        var report = await GetAsync(client, "/v1/usage?group_by=model");

        Assert.Equal(monthStart, report.GetProperty("from").GetDateTimeOffset());
        Assert.InRange(report.GetProperty("to").GetDateTimeOffset(), now, DateTimeOffset.UtcNow);
        Assert.Equal("2|10|1|11", Sums(report.GetProperty("total")));
    }

    [Fact]
    public async Task Should_accept_a_range_of_exactly_366_days()
    {
        using var response = await _client.GetAsync("/v1/usage?from=2025-01-01&to=2026-01-02");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("from=2026-11-03&to=2026-11-03", "usage_range_invalid")]
    [InlineData("from=2026-11-04&to=2026-11-03", "usage_range_invalid")]
    [InlineData("from=2026-13-01", "usage_range_invalid")]
    [InlineData("from=yesterday", "usage_range_invalid")]
    [InlineData("to=12/03/2026", "usage_range_invalid")]
    [InlineData("from=2025-01-01&to=2026-01-02T00:00:01Z", "usage_range_invalid")]
    [InlineData("group_by=week", "group_by_invalid")]
    [InlineData("group_by=DAY", "group_by_invalid")]
    public async Task Should_refuse_a_bad_range_or_grouping_with_its_code(string parameters, string code)
    {
        using var response = await _client.GetAsync($"/v1/usage?{parameters}");

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, code);
    }

    [Fact]
    public async Task Should_refuse_a_caller_without_an_api_key()
    {
        using var response = await app.CreateClient().GetAsync("/v1/usage");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Should_show_an_operator_any_tenants_usage_as_the_tenant_sees_it()
    {
        var (tenantId, key) = await SeedAsync();
        using var client = ClientOf(key);
        using var admin = Admin();

        foreach (var query in new[] { "from=2026-11-01&to=2026-11-03", "from=2026-11-01&to=2026-11-03&group_by=model" })
        {
            var own = await GetAsync(client, $"/v1/usage?{query}");
            var operators = await GetAsync(admin, $"/admin/v1/tenants/{tenantId}/usage?{query}");
            Assert.Equal(own.GetRawText(), operators.GetRawText());
        }
    }

    [Fact]
    public async Task Should_answer_the_operator_404_for_an_unknown_tenant_400_for_a_bad_range_and_401_without_the_token()
    {
        using var admin = Admin();

        using (var unknown = await admin.GetAsync("/admin/v1/tenants/no-such-tenant/usage"))
            await unknown.AssertProblemAsync(HttpStatusCode.NotFound, "tenant_not_found");
        using (var invalid = await admin.GetAsync($"/admin/v1/tenants/{DevTenantSeeder.TenantId}/usage?group_by=hour"))
            await invalid.AssertProblemAsync(HttpStatusCode.BadRequest, "group_by_invalid");
        using (var range = await admin.GetAsync($"/admin/v1/tenants/{DevTenantSeeder.TenantId}/usage?from=2026-11-03&to=2026-11-01"))
            await range.AssertProblemAsync(HttpStatusCode.BadRequest, "usage_range_invalid");
        using (var tenantKey = await _client.GetAsync($"/admin/v1/tenants/{DevTenantSeeder.TenantId}/usage"))
            Assert.Equal(HttpStatusCode.Unauthorized, tenantKey.StatusCode);
    }

    /// <summary>
    /// A new tenant with records around 1 and 2 November 2026 (UTC), tokens times <paramref name="scale"/>: in
    /// [11-01, 11-03) three, 13 and 5 tokens on the two days, 11 of model-a and 7 of model-b; and one on each side.
    /// </summary>
    private async Task<(string TenantId, string Key)> SeedAsync(long scale = 1)
    {
        var tenantId = NewTenantId();
        var key = await app.Services.AddTenantAsync(tenantId);
        await AddRecordsAsync(
            Record(tenantId, "model-a", new(2026, 10, 31, 23, 59, 59, TimeSpan.Zero), 10 * scale, 0),
            Record(tenantId, "model-a", new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero), 5 * scale, 1 * scale),
            Record(tenantId, "model-b", new(2026, 11, 1, 13, 0, 0, TimeSpan.Zero), 7 * scale, 0),
            Record(tenantId, "model-a", new(2026, 11, 2, 23, 59, 59, 999, TimeSpan.Zero), 3 * scale, 2 * scale),
            Record(tenantId, "model-b", new(2026, 11, 3, 0, 0, 0, TimeSpan.Zero), 100 * scale, 0));
        return (tenantId, key);
    }

    private static string NewTenantId() => $"usage-{Guid.NewGuid():N}";

    private static UsageRecord Record(string tenantId, string model, DateTimeOffset completedAt, long prompt, long completion) => new()
    {
        InferenceId = Guid.NewGuid(),
        TenantId = tenantId,
        Model = model,
        PromptTokens = prompt,
        CompletionTokens = completion,
        TotalTokens = prompt + completion,
        SubmittedAt = completedAt.AddSeconds(-1),
        CompletedAt = completedAt,
    };

    private async Task AddRecordsAsync(params UsageRecord[] records)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        db.UsageRecords.AddRange(records);
        await db.SaveChangesAsync();
    }

    private async Task<List<UsageRecord>> RecordsAsync(Guid inferenceId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().UsageRecords.AsNoTracking()
            .Where(x => x.InferenceId == inferenceId).ToListAsync();
    }

    private HttpClient ClientOf(string key)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    private HttpClient Admin()
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", UsageSettings.AdminToken);
        return client;
    }

    private static async Task<JsonElement> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static string[] Rows(JsonElement report, string key) =>
        [.. report.GetProperty("data").EnumerateArray().Select(row =>
        {
            Assert.False(row.TryGetProperty(key == "day" ? "model" : "day", out _), row.ToString());
            return $"{row.GetProperty(key).GetString()}|{Sums(row)}";
        })];

    private static string Sums(JsonElement row) =>
        $"{row.GetProperty("requests").GetInt64()}|{row.GetProperty("prompt_tokens").GetInt64()}|" +
        $"{row.GetProperty("completion_tokens").GetInt64()}|{row.GetProperty("total_tokens").GetInt64()}";
}
