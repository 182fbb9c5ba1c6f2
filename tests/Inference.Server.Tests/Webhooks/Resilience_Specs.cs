using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Tests.Integration;
using Inference.Server.Webhooks;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Webhooks;

/// <summary>One receiver that hangs holds a bounded share of the dispatcher, never another receiver's delivery.</summary>
public sealed class When_a_webhook_receiver_hangs(PatientWebhookApp app) : IClassFixture<PatientWebhookApp>
{
    [Fact]
    public async Task Should_still_deliver_to_another_receiver_at_once()
    {
        await using var slow = await WebhookReceiver.StartAsync();
        await using var fast = await WebhookReceiver.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        slow.Script("hang", async (_, http) =>
        {
            await release.Task.WaitAsync(http.RequestAborted);
            http.Response.StatusCode = StatusCodes.Status200OK;
        });
        using var client = app.CreateDevClient();

        // More hanging deliveries than the dispatcher's four slots; each destination may hold only two of them.
        for (var i = 0; i < 6; i++)
            Assert.Equal(HttpStatusCode.Accepted, (await client.SubmitWithWebhookAsync(new[] { $"slow {i}" }, slow.Url("hang"))).StatusCode);
        await slow.WaitForAsync("hang", 2);

        using var response = await client.SubmitWithWebhookAsync(new[] { "fast" }, fast.Url("quick"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        // The hanging attempts last up to 20 s; this one is not behind them.
        var delivered = Assert.Single(await fast.WaitForAsync("quick", 1, TimeSpan.FromSeconds(8)));
        Assert.Equal(id, delivered.Json.GetProperty("data").GetProperty("id").GetString());
        Assert.Equal(2, slow.On("hang").Count);
        release.SetResult();
    }
}

/// <summary>
/// Deliveries are rows in the database, not work in a process's memory: a process stopped mid-schedule leaves them, and
/// the next one delivers them.
/// </summary>
public sealed class When_the_delivering_process_restarts_mid_schedule : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("inference-webhooks-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public Task Should_deliver_from_the_next_process_on_SQLite() =>
        RestartAsync(new Dictionary<string, string?> { ["Database:SqlitePath"] = Path.Combine(_directory, "inference.db") });

    [Fact]
    public async Task Should_deliver_from_the_next_process_on_PostgreSQL()
    {
        var services = new IsolatedServices();
        await services.InitializeAsync();
        try
        {
            await RestartAsync(services.Settings());
        }
        finally
        {
            await services.DisposeAsync();
        }
    }

    private static async Task RestartAsync(Dictionary<string, string?> store)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Script("restart", (attempt, http) =>
        {
            http.Response.StatusCode = attempt == 1 ? StatusCodes.Status500InternalServerError : StatusCodes.Status200OK;
            return Task.CompletedTask;
        });
        // The retry is due long after the first process has gone.
        var settings = WebhookSettings.Quick(store);
        settings["Webhooks:RetrySchedule:0"] = "00:00:04";

        string id;
        await using (var first = new InferenceAppFactory(settings))
        {
            using var client = first.CreateDevClient();
            using var response = await client.SubmitWithWebhookAsync(new[] { "hello" }, receiver.Url("restart"));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
            await receiver.WaitForAsync("restart", 1);
            var pending = await Poll.UntilAsync(() => client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}"),
                body => body.GetProperty("webhook").GetProperty("attempts").GetInt32() == 1, "the first attempt to be recorded");
            Assert.Equal("pending", pending.GetProperty("webhook").GetProperty("status").GetString());
        }

        await using var next = new InferenceAppFactory(settings);
        using var nextClient = next.CreateDevClient();
        var webhooks = await receiver.WaitForAsync("restart", 2);
        Assert.Equal(webhooks[0].Id, webhooks[1].Id);
        var delivered = await Poll.UntilAsync(() => nextClient.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}"),
            body => body.GetProperty("webhook").GetProperty("status").GetString() == "delivered", "the retry to be recorded");
        Assert.Equal(2, delivered.GetProperty("webhook").GetProperty("attempts").GetInt32());
    }
}

/// <summary>Two orchestrators on one PostgreSQL database take due deliveries apart: each is sent once.</summary>
public sealed class When_two_orchestrators_dispatch_the_same_deliveries
{
    [Fact]
    public async Task Should_send_each_delivery_once()
    {
        var services = new IsolatedServices();
        await services.InitializeAsync();
        try
        {
            await using var receiver = await WebhookReceiver.StartAsync();
            var settings = WebhookSettings.Quick(services.Settings());
            settings["Webhooks:MaxConcurrentDeliveries"] = "16";
            settings["Webhooks:MaxConcurrentPerDestination"] = "16";
            await using var first = new InferenceAppFactory(settings);
            await using var second = new InferenceAppFactory(settings);
            _ = (first.Services, second.Services);

            // Due all at once, written in one transaction while both dispatchers poll.
            const int count = 300;
            var now = DateTimeOffset.UtcNow;
            await using (var scope = first.Services.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
                for (var i = 0; i < count; i++)
                {
                    db.WebhookDeliveries.Add(new WebhookDelivery
                    {
                        Id = Guid.NewGuid(),
                        InferenceId = Guid.NewGuid(),
                        TenantId = DevTenantSeeder.TenantId,
                        EventType = WebhookEventTypes.Completed,
                        Url = receiver.Url("pair"),
                        Destination = $"127.0.0.1:{receiver.Port}",
                        Payload = """{"type":"inference.completed"}""",
                        Status = WebhookDeliveryStatus.Pending,
                        NextAttemptAt = now,
                        CreatedAt = now,
                    });
                }

                await db.SaveChangesAsync();
            }

            await Poll.UntilAsync(async () =>
            {
                await using var scope = first.Services.CreateAsyncScope();
                return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().WebhookDeliveries
                    .CountAsync(x => x.Status == WebhookDeliveryStatus.Delivered);
            }, delivered => delivered == count, "every delivery to be recorded as delivered");

            var received = receiver.On("pair");
            Assert.Equal(count, received.Select(x => x.Id).Distinct().Count());
            Assert.Equal(count, received.Count);
        }
        finally
        {
            await services.DisposeAsync();
        }
    }
}
