using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;

namespace Inference.Server.Tests.Admin;

/// <summary><c>/admin/v1/tenants</c>: an operator creates, lists, reads, re-plans, disables and enables tenants.</summary>
public sealed class When_an_operator_manages_tenants(AdminApp app) : IClassFixture<AdminApp>
{
    [Fact]
    public async Task Should_create_a_tenant_with_its_plan_answer_201_with_its_location_and_read_it_back()
    {
        using var admin = app.AdminClient();
        var id = AdminSettings.NewTenantId("acme");

        using var created = await admin.PostAsJsonAsync("/admin/v1/tenants",
            new { id, name = "Acme Ltd", plan = new { tokens_per_day = 100_000, max_concurrent = 4 } });

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal($"/admin/v1/tenants/{id}", created.Headers.Location?.OriginalString);
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["id", "name", "plan", "disabled", "disabled_at", "created_at"], body.EnumerateObject().Select(p => p.Name));
        Assert.Equal((id, "Acme Ltd", false), (body.GetProperty("id").GetString(), body.GetProperty("name").GetString(), body.GetProperty("disabled").GetBoolean()));
        Assert.Equal(JsonValueKind.Null, body.GetProperty("disabled_at").ValueKind);
        var plan = body.GetProperty("plan");
        Assert.Equal(["requests_per_minute", "tokens_per_minute", "tokens_per_day", "tokens_per_month", "max_concurrent", "max_inputs_per_request"],
            plan.EnumerateObject().Select(p => p.Name));
        Assert.Equal(100_000, plan.GetProperty("tokens_per_day").GetInt64());
        Assert.Equal(4, plan.GetProperty("max_concurrent").GetInt64());
        Assert.Equal(JsonValueKind.Null, plan.GetProperty("tokens_per_minute").ValueKind);

        var read = await admin.GetFromJsonAsync<JsonElement>(created.Headers.Location);
        Assert.Equal(body.ToString(), read.ToString());
    }

    [Fact]
    public async Task Should_give_a_tenant_without_a_name_or_plan_its_id_as_name_and_no_limits()
    {
        using var admin = app.AdminClient();
        var id = AdminSettings.NewTenantId();

        var body = await admin.CreateTenantAsync(id);

        Assert.Equal(id, body.GetProperty("name").GetString());
        Assert.All(body.GetProperty("plan").EnumerateObject(), limit => Assert.Equal(JsonValueKind.Null, limit.Value.ValueKind));
    }

    [Theory]
    [InlineData("""{"name":"no id"}""")]
    [InlineData("""{"id":""}""")]
    [InlineData("""{"id":"Acme"}""")]
    [InlineData("""{"id":"-acme"}""")]
    [InlineData("""{"id":".acme"}""")]
    [InlineData("""{"id":"ac me"}""")]
    [InlineData("""{"id":"ac/me"}""")]
    [InlineData("""{"id":"acmé"}""")]
    [InlineData("""{"id":"a\u0000"}""")]
    [InlineData("""{"id":"a\ud800"}""")]
    [InlineData("""{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}""")] // 65
    public async Task Should_refuse_an_id_outside_the_rule_with_tenant_id_invalid(string json)
    {
        using var admin = app.AdminClient();

        using var response = await admin.PostAsync("/admin/v1/tenants", Json(json));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "tenant_id_invalid");
        Assert.Equal("id", problem.GetProperty("errors")[0].GetProperty("field").GetString());
    }

    [Fact]
    public async Task Should_accept_an_id_of_64_characters_with_dots_dashes_and_underscores()
    {
        using var admin = app.AdminClient();
        var id = ("0a._-" + Guid.NewGuid().ToString("N") + new string('z', 64))[..64];

        var body = await admin.CreateTenantAsync(id);

        Assert.Equal(id, body.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Should_refuse_an_id_in_use_with_409_tenant_exists()
    {
        using var admin = app.AdminClient();
        var id = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(id);

        using var again = await admin.PostAsJsonAsync("/admin/v1/tenants", new { id, name = "Someone else" });

        await again.AssertProblemAsync(HttpStatusCode.Conflict, "tenant_exists");
        Assert.Equal(id, (await admin.GetFromJsonAsync<JsonElement>($"/admin/v1/tenants/{id}")).GetProperty("name").GetString());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("1.5")]
    [InlineData("1e3")]
    [InlineData("\"100\"")]
    [InlineData("true")]
    [InlineData("[1]")]
    [InlineData("99999999999999999999")]
    public async Task Should_refuse_a_limit_that_is_not_a_whole_number_of_at_least_1_with_plan_invalid(string limit)
    {
        using var admin = app.AdminClient();
        var id = AdminSettings.NewTenantId();

        using var response = await admin.PostAsync("/admin/v1/tenants",
            Json($$$"""{"id":"{{{id}}}","plan":{"tokens_per_minute":10,"tokens_per_day":{{{limit}}},"max_concurrent":0}}"""));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "plan_invalid");
        Assert.Equal(["plan.tokens_per_day", "plan.max_concurrent"],
            problem.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("field").GetString()));
        Assert.All(problem.GetProperty("errors").EnumerateArray(), e => Assert.Equal("plan_invalid", e.GetProperty("code").GetString()));
        using var read = await admin.GetAsync($"/admin/v1/tenants/{id}");
        Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
    }

    [Theory]
    [InlineData("""{"id":"unknown-field","plan":{},"plan_name":"gold"}""")]
    [InlineData("""{"id":"unknown-limit","plan":{"tokens_per_dya":1000}}""")]
    public async Task Should_refuse_a_field_it_does_not_know_rather_than_ignore_it(string json)
    {
        using var admin = app.AdminClient();

        using var response = await admin.PostAsync("/admin/v1/tenants", Json(json));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
    }

    [Theory]
    [InlineData("""{"id":"named-nul","name":"Ac\u0000me"}""", "name_invalid_character")]
    [InlineData("""{"id":"named-bell","name":"Ac\u0007me"}""", "name_invalid_character")]
    [InlineData("""{"id":"named-surrogate","name":"Ac\udc00me"}""", "name_invalid_unicode")]
    [InlineData("""{"id":"named-empty","name":""}""", "name_invalid")]
    public async Task Should_refuse_a_name_the_platform_cannot_store_faithfully(string json, string code)
    {
        using var admin = app.AdminClient();

        using var response = await admin.PostAsync("/admin/v1/tenants", Json(json));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, code);
        Assert.Equal("name", problem.GetProperty("errors")[0].GetProperty("field").GetString());
    }

    [Fact]
    public async Task Should_refuse_a_name_over_256_characters()
    {
        using var admin = app.AdminClient();

        using var response = await admin.PostAsJsonAsync("/admin/v1/tenants", new { id = AdminSettings.NewTenantId(), name = new string('n', 257) });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "name_invalid");
    }

    [Fact]
    public async Task Should_read_the_body_as_every_json_body_of_the_api_is_read()
    {
        using var admin = app.AdminClient();

        using var text = await admin.PostAsync("/admin/v1/tenants", new StringContent("""{"id":"as-text"}""", Encoding.UTF8, "text/plain"));
        using var latin1 = await admin.PostAsync("/admin/v1/tenants",
            new StringContent("""{"id":"latin"}""", new MediaTypeHeaderValue("application/json") { CharSet = "iso-8859-1" }));
        var invalidUtf8 = new ByteArrayContent([.. "{\"id\":\"bad\",\"name\":\""u8.ToArray(), 0xC3, 0x28, .. "\"}"u8.ToArray()]);
        invalidUtf8.Headers.ContentType = new("application/json");
        using var notUtf8 = await admin.PostAsync("/admin/v1/tenants", invalidUtf8);
        using var large = await admin.PostAsync("/admin/v1/tenants", Json($$"""{"id":"large","name":"{{new string('x', 70_000)}}"}"""));
        using var malformed = await admin.PostAsync("/admin/v1/tenants", Json("""{"id":"""));
        using var notAnObject = await admin.PostAsync("/admin/v1/tenants", Json("null"));

        await text.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await latin1.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_charset");
        await notUtf8.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_utf8");
        await large.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        await malformed.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
        await notAnObject.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
    }

    [Fact]
    public async Task Should_page_through_every_tenant_in_order_of_id_with_next_after()
    {
        using var admin = app.AdminClient();
        var prefix = $"page-{Guid.NewGuid():N}"[..13];
        var mine = Enumerable.Range(0, 7).Select(i => $"{prefix}-{i}").ToList();
        foreach (var id in mine.AsEnumerable().Reverse())
            await admin.CreateTenantAsync(id);

        var seen = new List<string>();
        string? after = null;
        var pages = 0;
        while (true)
        {
            var url = after is null ? "/admin/v1/tenants?limit=3" : $"/admin/v1/tenants?limit=3&after={Uri.EscapeDataString(after)}";
            var page = await admin.GetFromJsonAsync<JsonElement>(url);
            pages++;
            var data = page.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetString()!).ToList();
            Assert.True(data.Count <= 3);
            seen.AddRange(data);
            if (!page.GetProperty("has_more").GetBoolean())
            {
                Assert.Equal(JsonValueKind.Null, page.GetProperty("next_after").ValueKind);
                break;
            }

            Assert.Equal(3, data.Count);
            after = page.GetProperty("next_after").GetString();
            Assert.Equal(data[^1], after);
            Assert.True(pages < 1000, "The pages never end.");
        }

        Assert.True(pages >= 3, $"Only {pages} pages for at least 8 tenants at 3 a page.");
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
        Assert.Equal(mine, seen.Where(id => id.StartsWith(prefix, StringComparison.Ordinal)));
        Assert.Contains("dev", seen);
    }

    [Fact]
    public async Task Should_list_50_by_default()
    {
        using var admin = app.AdminClient();

        var page = await admin.GetFromJsonAsync<JsonElement>("/admin/v1/tenants");

        Assert.InRange(page.GetProperty("data").GetArrayLength(), 1, 50);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("201")]
    [InlineData("-1")]
    [InlineData("ten")]
    [InlineData("")]
    public async Task Should_refuse_a_limit_outside_1_to_200_with_limit_invalid(string limit)
    {
        using var admin = app.AdminClient();

        using var response = await admin.GetAsync($"/admin/v1/tenants?limit={limit}");

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "limit_invalid");
    }

    [Fact]
    public async Task Should_replace_the_whole_plan_and_answer_the_tenant()
    {
        using var admin = app.AdminClient();
        var id = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(id, new { tokens_per_day = 100, max_concurrent = 2 });

        using var response = await admin.PutAsJsonAsync($"/admin/v1/tenants/{id}/plan",
            new { requests_per_minute = 60, tokens_per_minute = 1000, tokens_per_month = 5_000_000, max_inputs_per_request = 16 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var plan = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("plan");
        Assert.Equal(60, plan.GetProperty("requests_per_minute").GetInt64());
        Assert.Equal(1000, plan.GetProperty("tokens_per_minute").GetInt64());
        Assert.Equal(5_000_000, plan.GetProperty("tokens_per_month").GetInt64());
        Assert.Equal(16, plan.GetProperty("max_inputs_per_request").GetInt64());
        Assert.Equal(JsonValueKind.Null, plan.GetProperty("tokens_per_day").ValueKind);
        Assert.Equal(JsonValueKind.Null, plan.GetProperty("max_concurrent").ValueKind);
        Assert.Equal(plan.ToString(), (await admin.GetFromJsonAsync<JsonElement>($"/admin/v1/tenants/{id}")).GetProperty("plan").ToString());
    }

    [Fact]
    public async Task Should_refuse_a_plan_with_a_bad_limit_and_keep_the_old_one()
    {
        using var admin = app.AdminClient();
        var id = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(id, new { tokens_per_day = 100 });

        using var zero = await admin.PutAsync($"/admin/v1/tenants/{id}/plan", Json("""{"tokens_per_minute":0}"""));
        using var unknown = await admin.PutAsync($"/admin/v1/tenants/{id}/plan", Json("""{"tokens_per_week":10}"""));

        var problem = await zero.AssertProblemAsync(HttpStatusCode.BadRequest, "plan_invalid");
        Assert.Equal("tokens_per_minute", problem.GetProperty("errors")[0].GetProperty("field").GetString());
        await unknown.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
        var plan = (await admin.GetFromJsonAsync<JsonElement>($"/admin/v1/tenants/{id}")).GetProperty("plan");
        Assert.Equal(100, plan.GetProperty("tokens_per_day").GetInt64());
    }

    [Fact]
    public async Task Should_disable_and_enable_a_tenant_each_idempotently()
    {
        using var admin = app.AdminClient();
        var id = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(id);

        var disabled = await PostAsync(admin, $"/admin/v1/tenants/{id}/disable");
        var again = await PostAsync(admin, $"/admin/v1/tenants/{id}/disable");
        var enabled = await PostAsync(admin, $"/admin/v1/tenants/{id}/enable");
        var enabledAgain = await PostAsync(admin, $"/admin/v1/tenants/{id}/enable");

        Assert.True(disabled.GetProperty("disabled").GetBoolean());
        Assert.NotEqual(JsonValueKind.Null, disabled.GetProperty("disabled_at").ValueKind);
        Assert.Equal(disabled.ToString(), again.ToString());
        foreach (var body in new[] { enabled, enabledAgain })
        {
            Assert.False(body.GetProperty("disabled").GetBoolean());
            Assert.Equal(JsonValueKind.Null, body.GetProperty("disabled_at").ValueKind);
        }
    }

    [Theory]
    [InlineData("GET", "/admin/v1/tenants/{0}")]
    [InlineData("PUT", "/admin/v1/tenants/{0}/plan")]
    [InlineData("POST", "/admin/v1/tenants/{0}/disable")]
    [InlineData("POST", "/admin/v1/tenants/{0}/enable")]
    [InlineData("POST", "/admin/v1/tenants/{0}/keys")]
    [InlineData("GET", "/admin/v1/tenants/{0}/keys")]
    [InlineData("DELETE", "/admin/v1/tenants/{0}/keys/00000000-0000-0000-0000-000000000001")]
    public async Task Should_answer_404_tenant_not_found_for_a_tenant_that_does_not_exist(string method, string path)
    {
        using var admin = app.AdminClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), string.Format(System.Globalization.CultureInfo.InvariantCulture, path, "no-such-tenant"))
        {
            Content = Json("{}"),
        };

        using var response = await admin.SendAsync(request);

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "tenant_not_found");
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> PostAsync(HttpClient client, string url)
    {
        using var response = await client.PostAsync(url, null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
