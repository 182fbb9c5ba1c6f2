using Inference.Server.Tests.Infrastructure;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Tests.Api;
using Inference.Server.Tests.Integration;

namespace Inference.Server.Tests.Webhooks;

/// <summary>Settings that let webhooks go to the loopback receiver and retry within a spec's patience.</summary>
internal static class WebhookSettings
{
    public const string AdminToken = "test-admin-token";

    public static Dictionary<string, string?> Quick(IReadOnlyDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Webhooks:AllowPrivateNetworks"] = "true",
            ["Webhooks:RetrySchedule:0"] = "00:00:00.300",
            ["Webhooks:RetrySchedule:1"] = "00:00:00.300",
            ["Webhooks:PollInterval"] = "00:00:00.050",
            ["Webhooks:Timeout"] = "00:00:03",
            ["Webhooks:Lease"] = "00:00:10",
            ["Webhooks:MaxConcurrentDeliveries"] = "4",
            ["Webhooks:MaxConcurrentPerDestination"] = "2",
            ["Admin:Token"] = AdminToken,
        };
        // The canceled-event spec sends the slow request, which carries more than a client may by default.
        foreach (var (key, value) in SlowRequest.Limits)
            settings[key] = value;
        foreach (var (key, value) in more ?? new Dictionary<string, string?>())
            settings[key] = value;
        return settings;
    }

    /// <summary>A client for the admin API.</summary>
    public static HttpClient Admin(this EmbeddedApp app)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        return client;
    }

    public static async Task<string> SecretAsync(this HttpClient admin, string tenantId)
    {
        var body = await admin.GetFromJsonAsync<JsonElement>($"/admin/v1/tenants/{tenantId}/webhook-secret");
        return body.GetProperty("secret").GetString()!;
    }

    public static Task<HttpResponseMessage> SubmitWithWebhookAsync(this HttpClient client, object input, string webhook,
        string[]? events = null) =>
        client.PostAsJsonAsync("/v1/inferences", events is null
            ? new { model = Infrastructure.InferencesClient.Model, input, webhook }
            : (object)new { model = Infrastructure.InferencesClient.Model, input, webhook, webhook_events_filter = events });
}

/// <summary>The embedded app (SQLite) with <see cref="WebhookSettings.Quick"/>.</summary>
public sealed class WebhookApp() : EmbeddedApp(WebhookSettings.Quick());

/// <summary>
/// <see cref="WebhookApp"/> with attempts that may hang for 20 s, so that a receiver that hangs is plainly not waited
/// for: another's delivery comes in a fraction of that.
/// </summary>
public sealed class PatientWebhookApp() : EmbeddedApp(WebhookSettings.Quick(new Dictionary<string, string?>
{
    ["Webhooks:Timeout"] = "00:00:20",
    ["Webhooks:Lease"] = "00:01:00",
}));

/// <summary>The same on PostgreSQL, RabbitMQ and Redis.</summary>
public sealed class PostgresWebhookApp : EmbeddedApp
{
    private readonly IsolatedServices _services;

    public PostgresWebhookApp()
        : this(new IsolatedServices())
    {
    }

    private PostgresWebhookApp(IsolatedServices services)
        : base(WebhookSettings.Quick(services.Settings())) => _services = services;

    public override async Task InitializeAsync()
    {
        await _services.InitializeAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _services.DisposeAsync();
    }
}

/// <summary>The embedded app as an operator runs it: private networks off, no admin token.</summary>
public sealed class GuardedApp() : EmbeddedApp(new Dictionary<string, string?>
{
    ["Webhooks:PollInterval"] = "00:00:00.050",
});
