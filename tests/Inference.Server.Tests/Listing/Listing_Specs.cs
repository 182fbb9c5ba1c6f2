using System.Buffers.Text;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Tests.Api;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Listing;

public sealed class When_a_client_lists_its_inferences_on_SQLite(EmbeddedApp app)
    : When_a_client_lists_its_inferences<EmbeddedApp>(app);

public sealed class When_a_client_lists_its_inferences_on_PostgreSQL(PostgresApp app)
    : When_a_client_lists_its_inferences<PostgresApp>(app);

/// <summary>
/// <c>GET /v1/inferences</c> on each database. Most specs store their requests as rows of a tenant of their own, with the
/// times they need (many in one millisecond, as a busy tenant has), so that the pages can be checked exactly; the specs of
/// the wire shape use requests submitted and run for real.
/// </summary>
public abstract class When_a_client_lists_its_inferences<TApp>(TApp app) : IClassFixture<TApp>
    where TApp : EmbeddedApp
{
    /// <summary>A millisecond in the past, as every stored created_at is: whole milliseconds.</summary>
    private static readonly DateTimeOffset Instant = new(2026, 11, 30, 12, 0, 0, 123, TimeSpan.Zero);

    [Fact]
    public async Task Should_page_newest_first_without_duplicates_or_gaps_while_new_requests_arrive()
    {
        var (client, tenant) = await NewTenantAsync();
        // 12 requests in one millisecond, and 18 more a millisecond apart on either side of it.
        var stored = await StoreAsync(tenant, [
            .. Enumerable.Range(0, 12).Select(_ => Row(tenant, Instant)),
            .. Enumerable.Range(1, 9).Select(i => Row(tenant, Instant.AddMilliseconds(i))),
            .. Enumerable.Range(1, 9).Select(i => Row(tenant, Instant.AddMilliseconds(-i)))]);

        var first = await ListAsync(client, "?limit=7");
        // Newer than every page still to come: one in the cursor's own millisecond with a greater id, one a second ago,
        // one submitted for real.
        var last = stored.Single(x => x.CorrelationId == first.Ids[^1]);
        var tie = Row(tenant, last.CreatedAt);
        while (string.CompareOrdinal(tie.CorrelationId.ToString("D"), last.CorrelationId.ToString("D")) < 0)
            tie.CorrelationId = Guid.NewGuid();
        var arrived = await StoreAsync(tenant, [tie, Row(tenant, DateTimeOffset.UtcNow.AddSeconds(-1))]);
        var submitted = (await client.SubmitAcceptedAsync(new[] { "hello" })).GetProperty("id").GetGuid();
        var rest = await ReadAllPagesAsync(client, "limit=7", first.NextCursor);

        List<Guid> seen = [.. first.Ids, .. rest.SelectMany(page => page.Ids)];
        Assert.Equal(NewestFirst(stored), seen);
        Assert.Equal([7, 7, 7, 7, 2], [first.Ids.Count, .. rest.Select(page => page.Ids.Count)]);
        Assert.DoesNotContain(submitted, seen);
        Assert.Empty(arrived.Select(x => x.CorrelationId).Intersect(seen));

        // A fresh read starts with them.
        var fresh = await ListAsync(client, "?limit=3");
        Assert.Equal(submitted, fresh.Ids[0]);
        await client.WaitUntilFinishedAsync(submitted.ToString());
    }

    [Fact]
    public async Task Should_split_many_requests_of_one_millisecond_exactly_across_pages()
    {
        var (client, tenant) = await NewTenantAsync();
        var stored = await StoreAsync(tenant, [.. Enumerable.Range(0, 45).Select(_ => Row(tenant, Instant))]);

        var pages = await ReadAllPagesAsync(client, "limit=4", cursor: null);

        Assert.Equal(NewestFirst(stored), pages.SelectMany(page => page.Ids));
        Assert.Equal(12, pages.Count);
        Assert.All(pages[..^1], page => Assert.NotNull(page.NextCursor));
        Assert.Null(pages[^1].NextCursor);
    }

    [Fact]
    public async Task Should_filter_by_status_and_by_model()
    {
        var (client, tenant) = await NewTenantAsync();
        var stored = await StoreAsync(tenant, [
            .. Enumerable.Range(0, 5).Select(i => Row(tenant, Instant.AddMilliseconds(i), InferenceStates.Completed, "model-a")),
            .. Enumerable.Range(0, 4).Select(i => Row(tenant, Instant.AddMilliseconds(i), InferenceStates.Failed, "model-a")),
            .. Enumerable.Range(0, 3).Select(i => Row(tenant, Instant.AddMilliseconds(i), InferenceStates.Canceled, "model-b"))]);
        string Status(string state) => InferenceStates.ToApi(state);

        var failed = await ReadAllPagesAsync(client, $"status={Status(InferenceStates.Failed)}&limit=3", null);
        var modelB = await ReadAllPagesAsync(client, "model=model-b&limit=2", null);
        var both = await ReadAllPagesAsync(client, $"status={Status(InferenceStates.Completed)}&model=model-a&limit=2", null);
        var none = await ListAsync(client, $"?status={Status(InferenceStates.Completed)}&model=model-b");
        var unfinished = await ListAsync(client, $"?status={Status(InferenceStates.Submitted)}");

        Assert.Equal(NewestFirst(stored.Where(x => x.CurrentState == InferenceStates.Failed)), failed.SelectMany(p => p.Ids));
        Assert.Equal(NewestFirst(stored.Where(x => x.Model == "model-b")), modelB.SelectMany(p => p.Ids));
        Assert.Equal(NewestFirst(stored.Where(x => x.CurrentState == InferenceStates.Completed)), both.SelectMany(p => p.Ids));
        Assert.All(failed.SelectMany(p => p.Items), item => Assert.Equal("failed", item.GetProperty("status").GetString()));
        Assert.Equal((0, null), (none.Ids.Count, none.NextCursor));
        Assert.Empty(unfinished.Ids);
    }

    [Fact]
    public async Task Should_give_20_by_default_and_at_most_100()
    {
        var (client, tenant) = await NewTenantAsync();
        var stored = await StoreAsync(tenant, [.. Enumerable.Range(0, 101).Select(i => Row(tenant, Instant.AddMilliseconds(i % 7)))]);

        var byDefault = await ListAsync(client, "");
        var one = await ListAsync(client, "?limit=1");
        var most = await ListAsync(client, "?limit=100");
        var last = await ListAsync(client, $"?limit=100&cursor={most.NextCursor}");

        Assert.Equal(NewestFirst(stored)[..20], byDefault.Ids);
        Assert.Equal(NewestFirst(stored)[..1], one.Ids);
        Assert.Equal(NewestFirst(stored)[..100], most.Ids);
        Assert.Equal(NewestFirst(stored)[100..], last.Ids);
        Assert.Null(last.NextCursor);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("101")]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("+5")]
    [InlineData("5.0")]
    [InlineData("1e1")]
    [InlineData("%205")]
    [InlineData("99999999999999999999")]
    [InlineData("%00")]
    [InlineData("")]
    [InlineData("5&limit=6")]
    public async Task Should_refuse_a_limit_that_is_not_one_number_from_1_to_100(string limit)
    {
        var (client, _) = await NewTenantAsync();

        using var response = await client.GetAsync($"/v1/inferences?limit={limit}");

        await AssertInvalidAsync(response, "limit", "limit_invalid");
    }

    [Theory]
    [InlineData("Completed")] // the saga's name for the state, not the API's
    [InlineData("COMPLETED")]
    [InlineData("queued")]
    [InlineData("completed%20")]
    [InlineData("completed%00")]
    [InlineData("%ED%A0%80")] // a lone surrogate, as UTF-8 would spell it
    [InlineData("")]
    [InlineData("completed&status=failed")]
    public async Task Should_refuse_a_status_that_is_not_one_of_the_apis(string status)
    {
        var (client, _) = await NewTenantAsync();

        using var response = await client.GetAsync($"/v1/inferences?status={status}");

        await AssertInvalidAsync(response, "status", "status_invalid");
    }

    [Theory]
    [InlineData("%00")]
    [InlineData("all-minilm-l6-v2%00")]
    [InlineData("a%01b")]
    [InlineData("a&model=b")]
    public async Task Should_refuse_a_model_no_model_id_can_be(string model)
    {
        var (client, _) = await NewTenantAsync();

        using var response = await client.GetAsync($"/v1/inferences?model={model}");

        await AssertInvalidAsync(response, "model", "model_invalid");
    }

    [Fact]
    public async Task Should_answer_an_unknown_model_or_a_replacement_character_with_an_empty_page()
    {
        var (client, tenant) = await NewTenantAsync();
        await StoreAsync(tenant, [Row(tenant, Instant)]);

        var unknown = await ListAsync(client, "?model=gpt-2");
        var replaced = await ListAsync(client, "?model=%ED%A0%80"); // not UTF-8: read as U+FFFD, which no id holds

        Assert.Equal((0, null, 0, null), (unknown.Ids.Count, unknown.NextCursor, replaced.Ids.Count, replaced.NextCursor));
    }

    [Fact]
    public async Task Should_refuse_a_cursor_that_is_not_one_it_gave_this_tenant()
    {
        var (client, tenant) = await NewTenantAsync();
        await StoreAsync(tenant, [.. Enumerable.Range(0, 3).Select(_ => Row(tenant, Instant))]);
        var cursor = (await ListAsync(client, "?limit=1")).NextCursor!;
        var (otherClient, otherTenant) = await NewTenantAsync();
        await StoreAsync(otherTenant, [.. Enumerable.Range(0, 3).Select(_ => Row(otherTenant, Instant))]);
        var othersCursor = (await ListAsync(otherClient, "?limit=1")).NextCursor!;
        var bytes = Base64Url.DecodeFromChars(cursor);
        string Altered(int index)
        {
            var copy = (byte[])bytes.Clone();
            copy[index] ^= 1;
            return Base64Url.EncodeToString(copy);
        }

        string[] refused =
        [
            "garbage",
            cursor[..^1], // cut short
            cursor[..^4],
            cursor + "A",
            cursor + "=", // padded: the same bytes, another spelling
            cursor[..20] + " " + cursor[21..],
            Altered(3), // the time, with the check left as it was
            Altered(20), // the id
            Altered(bytes.Length - 1), // the check itself
            Altered(0), // the version
            Base64Url.EncodeToString(new byte[bytes.Length]), // valid-looking: the right length, all zeros
            Base64Url.EncodeToString(Guid.NewGuid().ToByteArray().Concat(Guid.NewGuid().ToByteArray()).Concat(new byte[1]).ToArray()),
            Convert.ToBase64String(bytes), // standard base64 instead of base64url, when it differs
            othersCursor, // valid, for another tenant
            new string('A', 60_000), // huge
            cursor[..10] + "\0" + cursor[11..],
        ];

        foreach (var text in refused.Where(text => text != cursor))
        {
            using var response = await client.GetAsync($"/v1/inferences?cursor={Uri.EscapeDataString(text)}");
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"'{text[..Math.Min(text.Length, 60)]}': {(int)response.StatusCode}");
            await AssertInvalidAsync(response, "cursor", "cursor_invalid");
        }

        using var empty = await client.GetAsync("/v1/inferences?cursor=");
        await AssertInvalidAsync(empty, "cursor", "cursor_invalid");
        using var twice = await client.GetAsync($"/v1/inferences?cursor={cursor}&cursor={cursor}");
        await AssertInvalidAsync(twice, "cursor", "cursor_invalid");
        using var lone = await client.GetAsync("/v1/inferences?cursor=%ED%A0%80");
        await AssertInvalidAsync(lone, "cursor", "cursor_invalid");
    }

    [Fact]
    public async Task Should_never_show_another_tenants_requests()
    {
        var (client, tenant) = await NewTenantAsync();
        var (otherClient, otherTenant) = await NewTenantAsync();
        var mine = await StoreAsync(tenant, [.. Enumerable.Range(0, 6).Select(_ => Row(tenant, Instant))]);
        var theirs = await StoreAsync(otherTenant, [.. Enumerable.Range(0, 6).Select(_ => Row(otherTenant, Instant))]);

        var myPages = await ReadAllPagesAsync(client, "limit=4", null);
        var theirPages = await ReadAllPagesAsync(otherClient, "limit=4", null);

        Assert.Equal(NewestFirst(mine), myPages.SelectMany(page => page.Ids));
        Assert.Equal(NewestFirst(theirs), theirPages.SelectMany(page => page.Ids));
    }

    [Fact]
    public async Task Should_show_each_request_as_its_single_read_does_but_without_output()
    {
        var (client, _) = await NewTenantAsync();
        var completed = await client.CompleteAsync(new[] { "hello", "world" });

        var page = await ListAsync(client, "");

        var item = Assert.Single(page.Items);
        Assert.False(item.TryGetProperty("output", out _), item.ToString());
        var expected = completed.EnumerateObject().Where(p => p.Name != "output").Select(p => (p.Name, p.Value.ToString()));
        Assert.Equal(expected, item.EnumerateObject().Select(p => (p.Name, p.Value.ToString())));
        Assert.Null(page.NextCursor);
    }

    [Fact]
    public async Task Should_answer_an_empty_page_with_a_null_next_cursor_to_a_tenant_with_no_requests()
    {
        var (client, _) = await NewTenantAsync();

        using var response = await client.GetAsync("/v1/inferences");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(0, body.GetProperty("data").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("next_cursor").ValueKind);
    }

    [Fact]
    public async Task Should_ask_for_an_api_key()
    {
        using var client = app.CreateClient();

        using var response = await client.GetAsync("/v1/inferences");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    private sealed record Page(IReadOnlyList<JsonElement> Items, string? NextCursor)
    {
        public List<Guid> Ids => [.. Items.Select(item => item.GetProperty("id").GetGuid())];
    }

    private async Task<(HttpClient Client, string Tenant)> NewTenantAsync()
    {
        var tenant = $"list-{Guid.NewGuid():N}";
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", await app.Services.AddTenantAsync(tenant));
        return (client, tenant);
    }

    private static async Task<Page> ListAsync(HttpClient client, string query)
    {
        using var response = await client.GetAsync($"/v1/inferences{query}");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"Expected 200, got {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement.Clone();
        var next = body.GetProperty("next_cursor");
        return new Page([.. body.GetProperty("data").EnumerateArray()], next.ValueKind == JsonValueKind.Null ? null : next.GetString());
    }

    /// <summary>Follows next_cursor from <paramref name="cursor"/> (the first page when null) to the last page.</summary>
    private static async Task<List<Page>> ReadAllPagesAsync(HttpClient client, string query, string? cursor)
    {
        List<Page> pages = [];
        do
        {
            var page = await ListAsync(client, cursor is null ? $"?{query}" : $"?{query}&cursor={cursor}");
            pages.Add(page);
            cursor = page.NextCursor;
            Assert.True(pages.Count < 1000, "next_cursor never ends");
        }
        while (cursor is not null);
        return pages;
    }

    private static async Task AssertInvalidAsync(HttpResponseMessage response, string field, string code)
    {
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, code);
        var error = Assert.Single(problem.GetProperty("errors").EnumerateArray());
        Assert.Equal((field, code), (error.GetProperty("field").GetString(), error.GetProperty("code").GetString()));
    }

    private async Task<List<InferenceState>> StoreAsync(string tenant, List<InferenceState> rows)
    {
        Assert.All(rows, row => Assert.Equal(tenant, row.TenantId));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        db.Inferences.AddRange(rows);
        await db.SaveChangesAsync();
        return rows;
    }

    /// <summary>A request that has ended (so that nothing in the app acts on it), stored with the times given.</summary>
    private static InferenceState Row(string tenant, DateTimeOffset createdAt, string state = InferenceStates.Completed, string model = InferencesClient.Model)
    {
        var at = createdAt.AddTicks(-(createdAt.Ticks % TimeSpan.TicksPerMillisecond));
        return new InferenceState
        {
            CorrelationId = Guid.NewGuid(),
            CurrentState = state,
            TenantId = tenant,
            Model = model,
            InputCount = 1,
            PromptTokens = 3,
            ReservedTokens = 3,
            ErrorCode = state == InferenceStates.Completed ? null : ErrorCodes.InferenceFailed,
            ErrorMessage = state == InferenceStates.Completed ? null : "stored by the spec",
            CreatedAt = at,
            UpdatedAt = at.AddMilliseconds(5),
            DeadlineAt = at.AddMinutes(10),
            History = [new StatusChange(InferenceStates.Submitted, at), new StatusChange(state, at.AddMilliseconds(5))],
        };
    }

    /// <summary>The listing's order: created_at, then id (as PostgreSQL's uuid and SQLite's text order them), both descending.</summary>
    private static List<Guid> NewestFirst(IEnumerable<InferenceState> rows) =>
        [.. rows.OrderByDescending(x => x.CreatedAt).ThenByDescending(x => x.CorrelationId.ToString("D"), StringComparer.Ordinal)
            .Select(x => x.CorrelationId)];
}
