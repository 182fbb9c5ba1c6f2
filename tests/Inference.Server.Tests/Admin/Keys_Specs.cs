using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;

namespace Inference.Server.Tests.Admin;

/// <summary><c>/admin/v1/tenants/{id}/keys</c>: issue, list and revoke a tenant's keys; the key is shown once.</summary>
public sealed class When_an_operator_manages_keys(AdminApp app) : IClassFixture<AdminApp>
{
    [Fact]
    public async Task Should_issue_a_key_once_and_list_it_by_prefix_only()
    {
        using var admin = app.AdminClient();
        var tenant = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(tenant);
        var expiresAt = DateTimeOffset.UtcNow.AddDays(30);

        var issued = await admin.IssueKeyAsync(tenant, new { name = "ci", expires_at = expiresAt });

        Assert.Equal(["key_id", "key", "name", "created_at", "expires_at"], issued.EnumerateObject().Select(p => p.Name));
        var key = issued.GetProperty("key").GetString()!;
        Assert.StartsWith("sk_", key, StringComparison.Ordinal);
        Assert.True(key.Length > 40);
        Assert.Equal("ci", issued.GetProperty("name").GetString());
        Assert.Equal(expiresAt, issued.GetProperty("expires_at").GetDateTimeOffset(), TimeSpan.FromMilliseconds(1));

        var list = await admin.GetStringAsync($"/admin/v1/tenants/{tenant}/keys");
        Assert.DoesNotContain(key, list, StringComparison.Ordinal);
        var listed = Assert.Single(JsonDocument.Parse(list).RootElement.GetProperty("data").EnumerateArray());
        Assert.Equal(["key_id", "name", "created_at", "expires_at", "revoked_at", "prefix"], listed.EnumerateObject().Select(p => p.Name));
        Assert.Equal(issued.GetProperty("key_id").GetString(), listed.GetProperty("key_id").GetString());
        Assert.Equal(key[..7], listed.GetProperty("prefix").GetString());
        Assert.Equal(JsonValueKind.Null, listed.GetProperty("revoked_at").ValueKind);
    }

    [Fact]
    public async Task Should_issue_a_key_without_a_body_name_or_expiry()
    {
        using var admin = app.AdminClient();
        var tenant = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(tenant);

        using var response = await admin.PostAsync($"/admin/v1/tenants/{tenant}/keys", null);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.Null, body.GetProperty("name").ValueKind);
        Assert.Equal(JsonValueKind.Null, body.GetProperty("expires_at").ValueKind);
    }

    [Theory]
    [InlineData("""{"expires_at":"2020-01-01T00:00:00Z"}""", "expires_at_invalid", "expires_at")]
    [InlineData("""{"expires_at":"next tuesday"}""", "expires_at_invalid", "expires_at")]
    [InlineData("""{"expires_at":12345}""", "expires_at_invalid", "expires_at")]
    [InlineData("""{"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}""", "name_invalid", "name")]
    [InlineData("""{"name":"c\u0000i"}""", "name_invalid_character", "name")]
    [InlineData("""{"name":"c\ud800i"}""", "name_invalid_unicode", "name")]
    public async Task Should_refuse_a_bad_expiry_or_name_and_issue_nothing(string json, string code, string field)
    {
        using var admin = app.AdminClient();
        var tenant = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(tenant);

        using var response = await admin.PostAsync($"/admin/v1/tenants/{tenant}/keys", new StringContent(json, Encoding.UTF8, "application/json"));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, code);
        Assert.Equal(field, problem.GetProperty("errors")[0].GetProperty("field").GetString());
        var keys = await admin.GetFromJsonAsync<JsonElement>($"/admin/v1/tenants/{tenant}/keys");
        Assert.Equal(0, keys.GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task Should_refuse_an_unknown_field_in_a_key_request()
    {
        using var admin = app.AdminClient();

        using var response = await admin.PostAsync("/admin/v1/tenants/dev/keys",
            new StringContent("""{"name":"x","scopes":["all"]}""", Encoding.UTF8, "application/json"));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
    }

    [Fact]
    public async Task Should_revoke_with_204_again_with_204_and_show_when()
    {
        using var admin = app.AdminClient();
        var tenant = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(tenant);
        var keyId = (await admin.IssueKeyAsync(tenant)).GetProperty("key_id").GetString();

        using var revoked = await admin.DeleteAsync($"/admin/v1/tenants/{tenant}/keys/{keyId}");
        var revokedAt = (await admin.GetFromJsonAsync<JsonElement>($"/admin/v1/tenants/{tenant}/keys"))
            .GetProperty("data")[0].GetProperty("revoked_at").GetDateTimeOffset();
        using var again = await admin.DeleteAsync($"/admin/v1/tenants/{tenant}/keys/{keyId}");

        Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
        var after = (await admin.GetFromJsonAsync<JsonElement>($"/admin/v1/tenants/{tenant}/keys")).GetProperty("data")[0];
        Assert.Equal(revokedAt, after.GetProperty("revoked_at").GetDateTimeOffset());
    }

    [Theory]
    [InlineData("00000000-0000-0000-0000-000000000001")]
    [InlineData("not-a-key-id")]
    public async Task Should_answer_404_key_not_found_for_a_key_the_tenant_does_not_have(string keyId)
    {
        using var admin = app.AdminClient();
        var tenant = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(tenant);

        using var response = await admin.DeleteAsync($"/admin/v1/tenants/{tenant}/keys/{keyId}");

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "key_not_found");
    }

    [Fact]
    public async Task Should_not_revoke_another_tenants_key_through_this_tenant()
    {
        using var admin = app.AdminClient();
        var (owner, other) = (AdminSettings.NewTenantId(), AdminSettings.NewTenantId());
        await admin.CreateTenantAsync(owner);
        await admin.CreateTenantAsync(other);
        var issued = await admin.IssueKeyAsync(owner);

        using var response = await admin.DeleteAsync($"/admin/v1/tenants/{other}/keys/{issued.GetProperty("key_id").GetString()}");

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "key_not_found");
        using var tenantClient = app.KeyClient(issued.GetProperty("key").GetString()!);
        using var probe = await tenantClient.ProbeAsync();
        Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
    }
}

/// <summary>
/// A key the admin API issued is a tenant's identity on <c>/v1</c>, and the admin API's changes reach it within the key
/// cache's duration (<c>Api:KeyCacheDuration</c>, 1 s here): revocation, disable, enable; an expiring key stops at its
/// expiry, which the cache never outlives.
/// </summary>
public sealed class When_a_tenant_uses_a_key_the_admin_api_issued(AdminApp app) : IClassFixture<AdminApp>
{
    [Fact]
    public async Task Should_submit_and_read_its_own_inference_which_another_tenant_cannot_read()
    {
        using var admin = app.AdminClient();
        var (tenant, other) = (AdminSettings.NewTenantId("own"), AdminSettings.NewTenantId("other"));
        await admin.CreateTenantAsync(tenant, new { tokens_per_day = 1_000_000 });
        await admin.CreateTenantAsync(other);
        using var client = app.KeyClient((await admin.IssueKeyAsync(tenant)).GetProperty("key").GetString()!);
        using var otherClient = app.KeyClient((await admin.IssueKeyAsync(other)).GetProperty("key").GetString()!);

        var accepted = await client.SubmitAcceptedAsync("hello from a new tenant");
        var id = accepted.GetProperty("id").GetString()!;
        var finished = await client.WaitUntilFinishedAsync(id);
        using var foreign = await otherClient.GetAsync($"/v1/inferences/{id}");

        Assert.Equal("completed", finished.GetProperty("status").GetString());
        await foreign.AssertProblemAsync(HttpStatusCode.NotFound, "inference_not_found");
    }

    [Fact]
    public async Task Should_refuse_a_revoked_key_with_401_within_the_key_cache_duration()
    {
        using var admin = app.AdminClient();
        var tenant = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(tenant);
        var issued = await admin.IssueKeyAsync(tenant);
        using var client = app.KeyClient(issued.GetProperty("key").GetString()!);
        using (var before = await client.ProbeAsync())
            Assert.Equal(HttpStatusCode.OK, before.StatusCode); // now cached

        using var revoke = await admin.DeleteAsync($"/admin/v1/tenants/{tenant}/keys/{issued.GetProperty("key_id").GetString()}");
        var clock = Stopwatch.StartNew();
        var status = await Poll.UntilAsync(async () =>
        {
            using var response = await client.ProbeAsync();
            return response.StatusCode;
        }, s => s == HttpStatusCode.Unauthorized, "the revoked key to be refused");

        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        Assert.True(clock.Elapsed < AdminSettings.CacheBound, $"Refused only after {clock.Elapsed}, beyond the cache's bound.");
        using var refused = await client.ProbeAsync();
        await refused.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task Should_stop_an_expiring_key_at_its_expiry()
    {
        using var admin = app.AdminClient();
        var tenant = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(tenant);
        var expiresAt = DateTimeOffset.UtcNow.AddSeconds(3);
        using var client = app.KeyClient((await admin.IssueKeyAsync(tenant, new { expires_at = expiresAt })).GetProperty("key").GetString()!);

        using (var before = await client.ProbeAsync())
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        await Poll.UntilAsync(async () =>
        {
            using var response = await client.ProbeAsync();
            return response.StatusCode;
        }, s => s == HttpStatusCode.Unauthorized, "the expired key to be refused");
        var refusedAt = DateTimeOffset.UtcNow;

        Assert.True(refusedAt >= expiresAt, $"Refused at {refusedAt:O}, before its expiry {expiresAt:O}.");
        Assert.True(refusedAt - expiresAt < AdminSettings.CacheBound, $"Refused at {refusedAt:O}, long after its expiry {expiresAt:O}.");
    }

    [Fact]
    public async Task Should_answer_403_tenant_disabled_while_disabled_and_serve_again_once_enabled()
    {
        using var admin = app.AdminClient();
        var tenant = AdminSettings.NewTenantId();
        await admin.CreateTenantAsync(tenant);
        using var client = app.KeyClient((await admin.IssueKeyAsync(tenant)).GetProperty("key").GetString()!);
        using (var before = await client.ProbeAsync())
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);

        using (await admin.PostAsync($"/admin/v1/tenants/{tenant}/disable", null))
        {
        }

        var clock = Stopwatch.StartNew();
        await Poll.UntilAsync(async () =>
        {
            using var response = await client.ProbeAsync();
            return response.StatusCode;
        }, s => s == HttpStatusCode.Forbidden, "the disabled tenant's key to be refused");
        Assert.True(clock.Elapsed < AdminSettings.CacheBound, $"Refused only after {clock.Elapsed}, beyond the cache's bound.");
        using (var refused = await client.SubmitAsync("hello"))
            await refused.AssertProblemAsync(HttpStatusCode.Forbidden, "tenant_disabled");
        using (var openAi = await client.PostAsJsonAsync("/v1/embeddings", new { model = InferencesClient.Model, input = "hello" }))
            await openAi.AssertOpenAiErrorAsync(HttpStatusCode.Forbidden, "tenant_disabled", "invalid_request_error");

        using (await admin.PostAsync($"/admin/v1/tenants/{tenant}/enable", null))
        {
        }

        clock.Restart();
        await Poll.UntilAsync(async () =>
        {
            using var response = await client.ProbeAsync();
            return response.StatusCode;
        }, s => s == HttpStatusCode.OK, "the enabled tenant's key to work again");
        Assert.True(clock.Elapsed < AdminSettings.CacheBound, $"Served again only after {clock.Elapsed}, beyond the cache's bound.");
    }
}
