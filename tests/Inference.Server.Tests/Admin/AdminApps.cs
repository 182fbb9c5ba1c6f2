using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Tests.Api;

namespace Inference.Server.Tests.Admin;

/// <summary>Settings and helpers of the admin specs: an operator token, and a key cache of 1 s.</summary>
internal static class AdminSettings
{
    public const string Token = "test-admin-token-7d1f3b9c";

    /// <summary>The key cache of the admin apps: every revocation, disable and enable must show within it.</summary>
    public static readonly TimeSpan KeyCacheDuration = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a spec waits for a change the key cache holds back: the cache's duration, and room for a loaded test
    /// machine. Far below the default 30 s, so a spec that passes shows that the setting bounds the cache.
    /// </summary>
    public static readonly TimeSpan CacheBound = KeyCacheDuration + TimeSpan.FromSeconds(5);

    public static Dictionary<string, string?> With(IReadOnlyDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Admin:Token"] = Token,
            ["Api:KeyCacheDuration"] = "00:00:01",
        };
        foreach (var (key, value) in more ?? new Dictionary<string, string?>())
            settings[key] = value;
        return settings;
    }

    /// <summary>A client with the operator token.</summary>
    public static HttpClient AdminClient(this EmbeddedApp app)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return client;
    }

    /// <summary>A client with a tenant's key.</summary>
    public static HttpClient KeyClient(this EmbeddedApp app, string key)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>A tenant id no other spec uses.</summary>
    public static string NewTenantId(string prefix = "t") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(64, prefix.Length + 33)];

    public static async Task<JsonElement> CreateTenantAsync(this HttpClient admin, string id, object? plan = null)
    {
        using var response = await admin.PostAsJsonAsync("/admin/v1/tenants", plan is null ? new { id } : (object)new { id, plan });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"Expected 201, got {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Issues a key; returns the 201's body (<c>key_id</c>, <c>key</c>, ...).</summary>
    public static async Task<JsonElement> IssueKeyAsync(this HttpClient admin, string tenantId, object? body = null)
    {
        using var response = await admin.PostAsJsonAsync($"/admin/v1/tenants/{tenantId}/keys", body ?? new { name = "spec" });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"Expected 201, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>A request that needs a valid key and nothing else: the tenant's (empty) list of inferences.</summary>
    public static Task<HttpResponseMessage> ProbeAsync(this HttpClient tenant) => tenant.GetAsync("/v1/inferences?limit=1");
}

/// <summary>The embedded app with the operator token and a key cache of 1 s.</summary>
public sealed class AdminApp() : EmbeddedApp(AdminSettings.With());
