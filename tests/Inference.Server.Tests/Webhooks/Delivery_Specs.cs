using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Inference.Server.Tests.Api;
using Inference.Server.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Webhooks;

public sealed class When_webhooks_are_delivered_on_SQLite(WebhookApp app) : When_webhooks_are_delivered<WebhookApp>(app);

public sealed class When_webhooks_are_delivered_on_PostgreSQL(PostgresWebhookApp app) : When_webhooks_are_delivered<PostgresWebhookApp>(app);

/// <summary>
/// Deliveries to a real receiver on loopback, which verifies every signature with the StandardWebhooks library.
/// </summary>
public abstract class When_webhooks_are_delivered<TApp>(TApp app) : IClassFixture<TApp>, IAsyncLifetime
    where TApp : EmbeddedApp
{
    private readonly HttpClient _client = app.CreateDevClient();
    private readonly HttpClient _admin = app.Admin();
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    private static string NewPath() => $"hooks/{Guid.NewGuid():N}";

    private async Task<string> SubmitAsync(string path, string[]? events = null, object? input = null)
    {
        using var response = await _client.SubmitWithWebhookAsync(input ?? new[] { "hello world" }, _receiver.Url(path), events);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    private async Task<JsonElement> WebhookStatusAsync(string id, string status)
    {
        var inference = await Poll.UntilAsync(() => _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}"),
            body => body.GetProperty("webhook").GetProperty("status").GetString() == status, $"the webhook of {id} to be {status}");
        return inference.GetProperty("webhook");
    }

    [Fact]
    public async Task Should_send_a_signed_completed_event_whose_data_is_what_GET_shows()
    {
        var path = NewPath();
        var id = await SubmitAsync(path);

        var webhook = Assert.Single(await _receiver.WaitForAsync(path, 1));
        webhook.Verify(await _admin.SecretAsync(DevTenantSeeder.TenantId));
        Assert.Equal("inference.completed", webhook.Type);
        Assert.Equal(id, webhook.Json.GetProperty("data").GetProperty("id").GetString());
        Assert.False(string.IsNullOrEmpty(webhook.Headers["webhook-timestamp"]));

        var status = await WebhookStatusAsync(id, "delivered");
        Assert.Equal(1, status.GetProperty("attempts").GetInt32());
        Assert.Equal(200, status.GetProperty("last_status_code").GetInt32());
        var got = await _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}");
        var data = webhook.Json.GetProperty("data");
        foreach (var member in new[] { "id", "status", "model", "created_at", "updated_at", "usage", "output", "error", "history" })
            Assert.Equal(got.GetProperty(member).GetRawText(), data.GetProperty(member).GetRawText());
        Assert.Equal("completed", data.GetProperty("status").GetString());
        Assert.Equal(got.GetProperty("updated_at").GetRawText(), webhook.Json.GetProperty("timestamp").GetRawText());
    }

    [Fact]
    public async Task Should_show_no_webhook_field_for_a_request_without_one()
    {
        var done = await _client.CompleteAsync(new[] { "hello" });
        Assert.False(done.TryGetProperty("webhook", out _));
    }

    [Fact]
    public async Task Should_send_the_started_event_too_when_the_filter_asks_for_it()
    {
        var path = NewPath();
        await SubmitAsync(path, ["started", "completed"]);

        // Events may arrive out of order (they go out concurrently, and retries overtake); their timestamps tell the order.
        var webhooks = (await _receiver.WaitForAsync(path, 2)).OrderBy(x => x.Json.GetProperty("timestamp").GetDateTimeOffset()).ToList();
        Assert.Equal(["inference.started", "inference.completed"], webhooks.Select(x => x.Type));
        Assert.Equal("inferring", webhooks[0].Json.GetProperty("data").GetProperty("status").GetString());
        Assert.NotEqual(webhooks[0].Id, webhooks[1].Id);
    }

    [Fact]
    public async Task Should_send_only_the_started_event_when_the_filter_asks_only_for_it()
    {
        var path = NewPath();
        var id = await SubmitAsync(path, ["started"]);

        await _client.WaitUntilFinishedAsync(id);
        var webhook = Assert.Single(await _receiver.WaitForAsync(path, 1));
        Assert.Equal("inference.started", webhook.Type);
        await WebhookStatusAsync(id, "delivered");
        Assert.Single(_receiver.On(path));
    }

    [Fact]
    public async Task Should_send_a_failed_event_for_a_request_refused_for_quota()
    {
        var tenant = $"tiny-{Guid.NewGuid():N}"[..20];
        var key = await app.Services.AddTenantAsync(tenant);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            var row = await db.Tenants.FindAsync(tenant);
            // Room for one request of 7 tokens a day, not two (a larger request would be refused at the door, not stored).
            row!.TokensPerDay = 10;
            await db.SaveChangesAsync();
        }

        using var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        var path = NewPath();
        using var admitted = await client.SubmitWithWebhookAsync(new[] { "a sentence of several tokens" }, _receiver.Url(NewPath()));
        Assert.Equal(HttpStatusCode.Accepted, admitted.StatusCode);
        using var refused = await client.SubmitWithWebhookAsync(new[] { "a sentence of several tokens" }, _receiver.Url(path));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);

        var webhook = Assert.Single(await _receiver.WaitForAsync(path, 1));
        webhook.Verify(await _admin.SecretAsync(tenant));
        Assert.Equal("inference.failed", webhook.Type);
        Assert.Equal("quota_daily_tokens", webhook.Json.GetProperty("data").GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Should_send_a_canceled_event_for_a_canceled_request()
    {
        var path = NewPath();
        var id = await SubmitAsync(path, ["completed"], SlowRequest.Body());
        await Poll.UntilAsync(async () => (await _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}")).GetProperty("status").GetString(),
            status => status == "inferring", "the worker to start the slow request");

        Assert.Equal(HttpStatusCode.OK, (await _client.PostAsync($"/v1/inferences/{id}/cancel", null)).StatusCode);

        var webhook = Assert.Single(await _receiver.WaitForAsync(path, 1));
        Assert.Equal("inference.canceled", webhook.Type);
        Assert.Equal("canceled", webhook.Json.GetProperty("data").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Should_retry_after_a_500_with_the_same_webhook_id_and_then_stop()
    {
        var path = NewPath();
        _receiver.Script(path, (attempt, http) =>
        {
            http.Response.StatusCode = attempt == 1 ? StatusCodes.Status500InternalServerError : StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        });
        var id = await SubmitAsync(path);

        var webhooks = await _receiver.WaitForAsync(path, 2);
        Assert.Equal(webhooks[0].Id, webhooks[1].Id);
        Assert.Equal(webhooks[0].Body, webhooks[1].Body);
        var status = await WebhookStatusAsync(id, "delivered");
        Assert.Equal((2, 204), (status.GetProperty("attempts").GetInt32(), status.GetProperty("last_status_code").GetInt32()));
        Assert.Equal(2, _receiver.On(path).Count);
    }

    [Fact]
    public async Task Should_not_retry_after_a_410()
    {
        var path = NewPath();
        _receiver.Script(path, (_, http) =>
        {
            http.Response.StatusCode = StatusCodes.Status410Gone;
            return Task.CompletedTask;
        });
        var id = await SubmitAsync(path);

        var status = await WebhookStatusAsync(id, "failed");
        Assert.Equal((1, 410), (status.GetProperty("attempts").GetInt32(), status.GetProperty("last_status_code").GetInt32()));
        // A failed delivery is never taken again; a retry would have come after the schedule's 300 ms.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Single(_receiver.On(path));
    }

    [Fact]
    public async Task Should_wait_as_long_as_Retry_After_asks_rather_than_the_schedule()
    {
        var path = NewPath();
        _receiver.Script(path, (attempt, http) =>
        {
            http.Response.StatusCode = attempt == 1 ? StatusCodes.Status429TooManyRequests : StatusCodes.Status200OK;
            if (attempt == 1)
                http.Response.Headers.RetryAfter = "2";
            return Task.CompletedTask;
        });
        var id = await SubmitAsync(path);

        var pending = await Poll.UntilAsync(() => _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}"),
            body => body.GetProperty("webhook").GetProperty("attempts").GetInt32() == 1, "the first attempt to be recorded");
        Assert.Equal(("pending", 429), (pending.GetProperty("webhook").GetProperty("status").GetString(),
            pending.GetProperty("webhook").GetProperty("last_status_code").GetInt32()));
        var webhooks = await _receiver.WaitForAsync(path, 2);
        Assert.True(webhooks[1].At - webhooks[0].At >= TimeSpan.FromSeconds(1.9), $"retried after {webhooks[1].At - webhooks[0].At}");
    }

    [Fact]
    public async Task Should_give_up_when_the_schedule_runs_out_and_send_again_when_an_operator_retries()
    {
        var path = NewPath();
        _receiver.Script(path, (attempt, http) =>
        {
            http.Response.StatusCode = attempt <= 3 ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
            return Task.CompletedTask;
        });
        var id = await SubmitAsync(path);

        var failed = await WebhookStatusAsync(id, "failed");
        Assert.Equal((3, 503), (failed.GetProperty("attempts").GetInt32(), failed.GetProperty("last_status_code").GetInt32()));
        var list = await _admin.GetFromJsonAsync<JsonElement>("/admin/v1/webhook-deliveries?status=failed&limit=200");
        var listed = Assert.Single(list.GetProperty("data").EnumerateArray(), x => x.GetProperty("inference_id").GetString() == id);
        Assert.Equal("inference.completed", listed.GetProperty("type").GetString());

        using var retried = await _admin.PostAsync($"/admin/v1/webhook-deliveries/{listed.GetProperty("id").GetString()}/retry", null);
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        var delivered = await WebhookStatusAsync(id, "delivered");
        Assert.Equal(1, delivered.GetProperty("attempts").GetInt32());
        Assert.Equal(4, _receiver.On(path).Count);

        using var again = await _admin.PostAsync($"/admin/v1/webhook-deliveries/{listed.GetProperty("id").GetString()}/retry", null);
        await again.AssertProblemAsync(HttpStatusCode.Conflict, "webhook_delivery_not_failed");
    }

    [Fact]
    public async Task Should_sign_with_both_secrets_for_a_day_after_a_rotation()
    {
        var tenant = $"rot-{Guid.NewGuid():N}"[..20];
        var key = await app.Services.AddTenantAsync(tenant);
        using var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        var old = await _admin.SecretAsync(tenant);
        Assert.StartsWith("whsec_", old, StringComparison.Ordinal);
        using var rotation = await _admin.PostAsync($"/admin/v1/tenants/{tenant}/webhook-secret/rotate", null);
        var rotated = (await rotation.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString()!;
        Assert.NotEqual(old, rotated);
        Assert.Equal(rotated, await _admin.SecretAsync(tenant));

        var path = NewPath();
        using var accepted = await client.SubmitWithWebhookAsync(new[] { "hello" }, _receiver.Url(path));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);

        var webhook = Assert.Single(await _receiver.WaitForAsync(path, 1));
        Assert.Equal(2, webhook.Signatures.Length);
        webhook.Verify(rotated);
        webhook.Verify(old);
        // Receivers not switched yet find their signature first, where the StandardWebhooks package looks.
        new StandardWebhooks.StandardWebhook(old).Verify(webhook.Body, webhook.Headers);
        Assert.ThrowsAny<Exception>(() => webhook.Verify(StandardWebhooksSecret()));
    }

    private static string StandardWebhooksSecret() => "whsec_" + Convert.ToBase64String(Guid.NewGuid().ToByteArray());
}
