using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Contracts;
using Inference.Server.Tests.Api;
using Inference.Server.Tests.Infrastructure;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Inference.Server.Tests.Integration;

/// <summary>A cancel on the real services, each role in its own process: the worker hears of it and stops the model.</summary>
public sealed class When_a_running_request_is_canceled_on_the_real_services : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_stop_the_model_run_release_everything_and_free_the_worker_at_once()
    {
        await using var orchestrator = new InferenceAppFactory(_services.Settings("orchestrator"));
        var workerLog = new CapturedLogs();
        await using var worker = new InferenceAppFactory(_services.Settings("worker"), workerLog);
        var apiSettings = _services.Settings("api");
        foreach (var (key, value) in SlowRequest.Limits)
            apiSettings[key] = value;
        await using var api = new InferenceAppFactory(apiSettings);
        _ = orchestrator.Services;
        _ = worker.Services;
        using var client = api.CreateDevClient();
        var canceledEvents = new List<InferenceCanceled>();
        var listening = api.Services.GetRequiredService<IBus>().ConnectReceiveEndpoint(new TemporaryEndpointDefinition(),
            DefaultEndpointNameFormatter.Instance, endpoint => endpoint.Handler<InferenceCanceled>(context =>
            {
                lock (canceledEvents)
                    canceledEvents.Add(context.Message);
                return Task.CompletedTask;
            }));
        await listening.Ready;

        // Half a minute of work for the model, and the worker (one run at a time) is busy with it.
        var id = await When_a_client_cancels_a_request.StartSlowAsync(client);
        var response = await client.PostAsync($"/v1/inferences/{id}/cancel", null);
        var canceledAt = Stopwatch.StartNew();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("canceled", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        await Poll.UntilAsync(() => workerLog.Entries.Any(e => e.Message.Contains($"Stopped the model run of inference {id}", StringComparison.Ordinal)),
            "the worker to stop the run");

        // Free again: a small request is served long before the slow one could have ended.
        var next = await client.SubmitAcceptedAsync(new[] { "hello" });
        var done = await client.WaitUntilFinishedAsync(next.GetProperty("id").GetString()!);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.True(canceledAt.Elapsed < TimeSpan.FromSeconds(20), $"The worker took {canceledAt.Elapsed} to serve the next request.");

        // Released in full, nothing charged, the result never stored, one outcome event.
        var reservationKey = $"{_services.RedisPrefix}:quota:{{dev}}:reservation:{id}";
        await Poll.UntilAsync(async () => await _services.Redis.HashGetAsync(reservationKey, "state") == "released", "the reservation to be released");
        Assert.Null(await _services.RowAsync("SELECT 1 FROM inference_results WHERE inference_id = @id", ("id", Guid.Parse(id))));
        await Poll.UntilAsync(() => { lock (canceledEvents) return canceledEvents.Any(e => e.InferenceId == Guid.Parse(id)); }, "the cancel to be published");
        Assert.Equal(ErrorCodesOf(canceledEvents, Guid.Parse(id)), ["canceled"]);
        Assert.DoesNotContain(workerLog.Entries, e => e.Level >= LogLevel.Error);
    }

    private static List<string> ErrorCodesOf(List<InferenceCanceled> events, Guid id)
    {
        lock (events)
            return [.. events.Where(e => e.InferenceId == id).Select(e => e.Reason.Code)];
    }
}
