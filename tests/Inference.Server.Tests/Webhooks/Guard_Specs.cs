using System.Net;
using System.Net.Http.Json;

using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Webhooks;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Webhooks;

/// <summary>
/// With <c>Webhooks:AllowPrivateNetworks</c> off (the default), a webhook may not reach what only the server can: it is
/// refused at submission for every internal address class, and again when it is delivered.
/// </summary>
public sealed class When_a_webhook_points_inside_the_network(GuardedApp app) : IClassFixture<GuardedApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Theory]
    [InlineData("http://127.0.0.1:8080/hook")]
    [InlineData("http://127.1.2.3/hook")]
    [InlineData("http://10.0.0.1/hook")]
    [InlineData("http://172.16.0.1/hook")]
    [InlineData("http://172.31.255.254/hook")]
    [InlineData("http://192.168.1.1/hook")]
    [InlineData("http://169.254.1.1/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data")]
    [InlineData("http://100.64.0.1/hook")]
    [InlineData("http://100.100.100.200/hook")]
    [InlineData("http://168.63.129.16/hook")]
    [InlineData("http://224.0.0.1/hook")]
    [InlineData("http://0.0.0.0/hook")]
    [InlineData("http://255.255.255.255/hook")]
    [InlineData("http://[::1]/hook")]
    [InlineData("http://[::]/hook")]
    [InlineData("http://[fe80::1]/hook")]
    [InlineData("http://[fc00::1]/hook")]
    [InlineData("http://[fd00:ec2::254]/hook")]
    [InlineData("http://[ff02::1]/hook")]
    [InlineData("http://[::ffff:127.0.0.1]/hook")]
    [InlineData("http://[::ffff:10.0.0.1]/hook")]
    [InlineData("http://[::ffff:169.254.169.254]/hook")]
    [InlineData("http://[64:ff9b::a00:1]/hook")]
    [InlineData("http://[2002:c0a8:101::1]/hook")]
    [InlineData("http://localhost:8080/hook")]
    [InlineData("https://example.com:22/hook")]
    [InlineData("https://example.com:1023/hook")]
    public async Task Should_refuse_it_at_submission_with_webhook_url_not_allowed(string webhook)
    {
        using var response = await _client.SubmitWithWebhookAsync(new[] { "hello" }, webhook);

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "webhook_url_not_allowed");
        Assert.Equal("webhook", problem.GetProperty("errors")[0].GetProperty("field").GetString());
    }

    [Theory]
    [InlineData("\"not a url\"")]
    [InlineData("\"/relative/path\"")]
    [InlineData("\"ftp://example.com/hook\"")]
    [InlineData("\"file:///etc/passwd\"")]
    [InlineData("\"https://user:pass@example.com/hook\"")]
    [InlineData("\"https://example.com/\\u0000hook\"")]
    [InlineData("\"https://example.com/\\ud800\"")]
    [InlineData("\"\"")]
    [InlineData("42")]
    [InlineData("[\"https://example.com\"]")]
    public async Task Should_refuse_what_is_no_absolute_http_url_with_webhook_invalid(string webhook)
    {
        using var response = await _client.SubmitJsonAsync($$"""{"model":"{{InferencesClient.Model}}","input":"hello","webhook":{{webhook}}}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "webhook_invalid");
        Assert.Equal("webhook", problem.GetProperty("errors")[0].GetProperty("field").GetString());
    }

    [Theory]
    [InlineData("[\"finished\"]")]
    [InlineData("[]")]
    [InlineData("\"completed\"")]
    [InlineData("[\"completed\", 1]")]
    public async Task Should_refuse_an_unknown_events_filter(string filter)
    {
        using var response = await _client.SubmitJsonAsync(
            $$"""{"model":"{{InferencesClient.Model}}","input":"hello","webhook":"https://93.184.215.14/hook","webhook_events_filter":{{filter}}}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "webhook_events_filter_invalid");
        Assert.Equal("webhook_events_filter", problem.GetProperty("errors")[0].GetProperty("field").GetString());
    }

    [Fact]
    public async Task Should_refuse_a_delivery_whose_destination_became_internal_without_connecting()
    {
        // A delivery to loopback as if its name had resolved elsewhere at submission: the dispatcher checks again and
        // gives up without a single byte reaching the receiver.
        await using var receiver = await WebhookReceiver.StartAsync();
        var url = receiver.Url("rebound");
        var id = Guid.NewGuid();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            db.WebhookDeliveries.Add(new WebhookDelivery
            {
                Id = id,
                InferenceId = Guid.NewGuid(),
                TenantId = DevTenantSeeder.TenantId,
                EventType = WebhookEventTypes.Completed,
                Url = url,
                Destination = $"127.0.0.1:{receiver.Port}",
                Payload = "{}",
                Status = WebhookDeliveryStatus.Pending,
                NextAttemptAt = DateTimeOffset.UtcNow,
                CreatedAt = DateTimeOffset.UtcNow,
            });
            await db.SaveChangesAsync();
        }

        var delivery = await Poll.UntilAsync(async () =>
            {
                await using var scope = app.Services.CreateAsyncScope();
                return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().WebhookDeliveries.FindAsync(id);
            },
            row => row!.Status == WebhookDeliveryStatus.Failed, "the delivery to be refused");
        Assert.Contains("loopback", delivery!.LastError, StringComparison.Ordinal);
        Assert.Null(delivery.LastStatusCode);
        Assert.Empty(receiver.On("rebound"));
    }

    [Fact]
    public async Task Should_accept_a_public_address()
    {
        using var response = await _client.SubmitWithWebhookAsync(new[] { "hello" }, "https://93.184.215.14:8443/hook", ["completed"]);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString()!;
        var done = await _client.WaitUntilFinishedAsync(id);
        Assert.True(done.TryGetProperty("webhook", out var webhook));
        Assert.Contains(webhook.GetProperty("status").GetString(), new[] { "pending", "failed", "delivered" });
    }
}

/// <summary>The admin API's guard: off without a token; only the token opens it.</summary>
public sealed class When_the_admin_api_is_called
{
    [Fact]
    public async Task Should_answer_404_when_no_token_is_configured()
    {
        await using var factory = new InferenceAppFactory();
        using var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", "anything");

        using var response = await client.GetAsync($"/admin/v1/tenants/{DevTenantSeeder.TenantId}/webhook-secret");

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Should_answer_401_without_the_token_or_with_a_tenant_key_and_200_with_it()
    {
        await using var factory = new InferenceAppFactory(WebhookSettings.Quick());
        using var anonymous = factory.CreateClient();
        var route = $"/admin/v1/tenants/{DevTenantSeeder.TenantId}/webhook-secret";

        using (var response = await anonymous.GetAsync(route))
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using (var tenant = factory.CreateDevClient())
        using (var response = await tenant.GetAsync(route))
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using (var wrong = factory.CreateClient())
        {
            wrong.DefaultRequestHeaders.Authorization = new("Bearer", WebhookSettings.AdminToken + "x");
            using var response = await wrong.PostAsync(route + "/rotate", null);
            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        }

        using var admin = factory.CreateClient();
        admin.DefaultRequestHeaders.Authorization = new("Bearer", WebhookSettings.AdminToken);
        using var ok = await admin.GetAsync(route);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using var missing = await admin.GetAsync("/admin/v1/tenants/nobody/webhook-secret");
        await missing.AssertProblemAsync(HttpStatusCode.NotFound, "tenant_not_found");
        using var badStatus = await admin.GetAsync("/admin/v1/webhook-deliveries?status=bogus");
        await badStatus.AssertProblemAsync(HttpStatusCode.BadRequest, "status_invalid");
    }
}

/// <summary>The address classes, one by one.</summary>
public sealed class The_webhook_address_guard
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("10.1.2.3")]
    [InlineData("172.20.0.1")]
    [InlineData("192.168.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.255")]
    [InlineData("0.0.0.0")]
    [InlineData("255.255.255.255")]
    [InlineData("239.255.255.250")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fe80::1")]
    [InlineData("fd12:3456::1")]
    [InlineData("ff05::2")]
    [InlineData("::ffff:192.168.0.1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("fd00:ec2::254")]
    [InlineData("100.100.100.200")]
    public void Should_refuse_an_internal_address(string address) =>
        Assert.NotNull(WebhookAddressGuard.Classify(System.Net.IPAddress.Parse(address)));

    [Theory]
    [InlineData("93.184.215.14")]
    [InlineData("8.8.8.8")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.1")]
    [InlineData("172.32.0.1")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    public void Should_allow_a_public_address(string address) =>
        Assert.Null(WebhookAddressGuard.Classify(System.Net.IPAddress.Parse(address)));

    [Theory]
    [InlineData(80, true)]
    [InlineData(443, true)]
    [InlineData(1024, true)]
    [InlineData(65535, true)]
    [InlineData(22, false)]
    [InlineData(25, false)]
    [InlineData(1023, false)]
    public void Should_allow_only_ports_80_443_and_from_1024(int port, bool allowed) =>
        Assert.Equal(allowed, WebhookAddressGuard.PortRefusal(port) is null);
}
