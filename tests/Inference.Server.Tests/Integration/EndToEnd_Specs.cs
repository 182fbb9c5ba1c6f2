using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Server.Tests.Infrastructure;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Integration;

/// <summary>
/// Real requests through REST, RabbitMQ, the saga in PostgreSQL, the quota in Redis, the ONNX model and the result
/// store, checked where they land: the saga row, the Redis counters and the queues.
/// </summary>
public sealed class When_a_request_runs_on_the_real_services : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_complete_persist_the_saga_and_charge_the_actual_usage_once()
    {
        await using var app = new InferenceAppFactory(_services.Settings());
        using var client = app.CreateDevClient();

        var accepted = await client.SubmitAcceptedAsync(new[] { "A man is playing a guitar.", "Someone plays the guitar." });
        var id = accepted.GetProperty("id").GetString()!;
        var inference = await client.WaitUntilFinishedAsync(id);

        Assert.Equal("completed", inference.GetProperty("status").GetString());
        var promptTokens = inference.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.Equal(accepted.GetProperty("usage").GetProperty("reserved_tokens").GetInt32(), promptTokens);
        var embeddings = inference.GetProperty("output").GetProperty("embeddings");
        Assert.Equal(2, embeddings.GetArrayLength());
        Assert.All(embeddings.EnumerateArray(), e => Assert.Equal(384, e.GetArrayLength()));

        var saga = await _services.RowAsync(
            "SELECT current_state, tenant_id, prompt_tokens, completion_tokens, inputs, jsonb_array_length(history) AS transitions " +
            "FROM inference_sagas WHERE correlation_id = @id", ("id", Guid.Parse(id)));
        Assert.NotNull(saga);
        Assert.Equal("Completed", saga["current_state"]);
        Assert.Equal("dev", saga["tenant_id"]);
        Assert.Equal((promptTokens, 0), ((int)saga["prompt_tokens"]!, (int)saga["completion_tokens"]!));
        Assert.Null(saga["inputs"]);
        Assert.Equal(4, saga["transitions"]);
        var result = await _services.RowAsync("SELECT dimensions, length(embeddings) AS bytes FROM inference_results WHERE inference_id = @id",
            ("id", Guid.Parse(id)));
        Assert.Equal((384, 2 * 384 * sizeof(float)), ((int)result!["dimensions"]!, (int)result["bytes"]!));

        // Settling happens after Completed is visible; wait for it, then check it was counted exactly once.
        var reservationKey = $"{_services.RedisPrefix}:quota:{{dev}}:reservation:{id}";
        await Poll.UntilAsync(async () => await _services.Redis.HashGetAsync(reservationKey, "state") == "settled", "the outcome to settle");
        Assert.Equal(promptTokens, (long)await _services.Redis.HashGetAsync(reservationKey, "charged"));
        var day = (string)(await _services.Redis.HashGetAsync(reservationKey, "day"))!;
        Assert.Equal(promptTokens, await _services.DevDayTokensAsync(day));

        await Poll.UntilAsync(async () => (await _services.QueuesAsync()).Values.All(messages => messages == 0), "the outcome to settle");
        var queues = await _services.QueuesAsync();
        Assert.Superset(new HashSet<string>
            {
                InferenceEndpoints.Orchestrator, ProtocolEndpoints.Quota, ProtocolEndpoints.QuotaSettlements,
                ProtocolEndpoints.WorkerFor("all-minilm-l6-v2"),
                ProtocolEndpoints.Results,
            },
            queues.Keys.ToHashSet());
        Assert.DoesNotContain(queues.Keys, name => name.EndsWith("_error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_answer_429_over_quota_and_charge_nothing_for_the_rejected_request()
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?>(_services.Settings()) { ["Dev:TokensPerMinute"] = "20" });
        using var client = app.CreateDevClient();
        var first = await client.SubmitAcceptedAsync("The first request of sixteen tokens or so fits.");
        var firstTokens = first.GetProperty("usage").GetProperty("reserved_tokens").GetInt32();

        var second = await client.SubmitAsync("This second one does not fit in the minute.");

        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.InRange(second.Headers.RetryAfter?.Delta?.TotalSeconds ?? -1, 1, 60);
        var problem = await second.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("rate_limit_tokens", "tokens_per_minute", 20), (problem.GetProperty("code").GetString(),
            problem.GetProperty("limit_name").GetString(), problem.GetProperty("limit").GetInt32()));
        Assert.Equal(firstTokens, problem.GetProperty("used").GetInt32());

        var rejected = await _services.RowAsync("SELECT correlation_id, error_code FROM inference_sagas WHERE current_state = 'Failed'");
        Assert.Equal("rate_limit_tokens", rejected!["error_code"]);
        Assert.Equal(rejected["correlation_id"]!.ToString(), problem.GetProperty("inference_id").GetString());
        var failed = await client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{rejected["correlation_id"]}");
        Assert.Equal(("failed", "rate_limit_tokens", 0), (failed.GetProperty("status").GetString(),
            failed.GetProperty("error").GetProperty("code").GetString(), failed.GetProperty("usage").GetProperty("total_tokens").GetInt32()));
        var rejectedKey = $"{_services.RedisPrefix}:quota:{{dev}}:reservation:{rejected["correlation_id"]}";
        Assert.Equal("rejected", (string?)await _services.Redis.HashGetAsync(rejectedKey, "state"));
        await client.WaitUntilFinishedAsync(first.GetProperty("id").GetString()!);
        var day = (string)(await _services.Redis.HashGetAsync(rejectedKey, "day"))!;
        await Poll.UntilAsync(async () =>
            await _services.DevDayTokensAsync(day) == firstTokens, "the outcome to settle");
    }

    [Fact]
    public async Task Should_refuse_a_bus_submission_the_platform_would_not_run_with_the_rest_code_store_nothing_and_publish_its_failure()
    {
        await using var app = new InferenceAppFactory(_services.Settings());
        using var client = app.CreateDevClient();
        var bus = app.Services.GetRequiredService<IBus>();
        var failures = new List<InferenceFailed>();
        var listening = bus.ConnectReceiveEndpoint(new TemporaryEndpointDefinition(), DefaultEndpointNameFormatter.Instance, endpoint =>
            endpoint.Handler<InferenceFailed>(context =>
            {
                lock (failures)
                    failures.Add(context.Message);
                return Task.CompletedTask;
            }));
        await listening.Ready;
        var id = NewId.NextGuid();

        // Straight onto the bus, as an integrating service would, for a model nobody serves.
        var response = await bus.CreateRequestClient<SubmitInference>(InferenceEndpoints.OrchestratorAddress)
            .GetResponse<InferenceAccepted, InferenceRejected>(new SubmitInference
            {
                InferenceId = id, TenantId = "dev", Model = "no-such-model", Inputs = ["hello"],
            });

        Assert.True(response.Is(out Response<InferenceRejected>? rejected));
        Assert.Equal("model_not_found", rejected.Message.Code);
        await Poll.UntilAsync(() => Task.FromResult(failures.Any(f => f.InferenceId == id)), "the failure to be published");
        Assert.Equal("model_not_found", failures.Single(f => f.InferenceId == id).Error.Code);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/inferences/{id}")).StatusCode);
        Assert.False(await _services.Redis.KeyExistsAsync($"{_services.RedisPrefix}:quota:{{dev}}:reservation:{id}"));
    }
}

/// <summary>The same build as three processes, one role each, sharing only the real services.</summary>
public sealed class When_each_role_runs_in_its_own_process : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_complete_a_request_submitted_to_the_api_process()
    {
        await using var orchestrator = new InferenceAppFactory(_services.Settings("orchestrator"));
        await using var worker = new InferenceAppFactory(_services.Settings("worker"));
        await using var api = new InferenceAppFactory(_services.Settings("api"));
        _ = orchestrator.Services;
        _ = worker.Services;
        using var client = api.CreateDevClient();

        var accepted = await client.SubmitAcceptedAsync("hello world");
        var inference = await client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);

        Assert.Equal("completed", inference.GetProperty("status").GetString());
        Assert.Equal("quota_reserved", accepted.GetProperty("status").GetString());
        Assert.Equal(384, inference.GetProperty("output").GetProperty("embeddings")[0].GetArrayLength());
        var worker404 = await worker.CreateDevClient().GetAsync($"/v1/inferences/{accepted.GetProperty("id").GetString()}");
        Assert.Equal(HttpStatusCode.NotFound, worker404.StatusCode);
    }

    [Fact]
    public async Task Should_store_and_later_complete_a_submission_accepted_while_no_orchestrator_ran()
    {
        // An orchestrator declares its queues and stops: from then on the broker holds what the API sends.
        await using (var stopped = new InferenceAppFactory(_services.Settings("orchestrator")))
            _ = stopped.Services;
        await using var worker = new InferenceAppFactory(_services.Settings("worker"));
        await using var api = new InferenceAppFactory(new Dictionary<string, string?>(_services.Settings("api"))
        {
            ["Api:QuotaDecisionTimeout"] = "00:00:00.200",
        });
        _ = worker.Services;
        using var client = api.CreateDevClient();

        var accepted = await client.SubmitAcceptedAsync("hello world");
        var id = accepted.GetProperty("id").GetString()!;

        // Answered after the wait, and stored before it: readable at once, never a 404, while its reservation waits in
        // the broker for an orchestrator.
        Assert.Equal("submitted", accepted.GetProperty("status").GetString());
        var stored = await client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}");
        Assert.Equal("submitted", stored.GetProperty("status").GetString());
        await Poll.UntilAsync(async () => (await _services.QueuesAsync()).GetValueOrDefault(ProtocolEndpoints.Quota) == 1,
            "the reservation to wait in the quota queue");
        await using var orchestrator = new InferenceAppFactory(_services.Settings("orchestrator"));
        _ = orchestrator.Services;
        var inference = await client.WaitUntilFinishedAsync(id);
        Assert.Equal("completed", inference.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Should_fail_work_no_worker_took_by_its_deadline_release_its_quota_and_not_run_it_later()
    {
        var deadline = new Dictionary<string, string?>
        {
            // Long enough for a cold orchestrator on a busy machine to grant the quota first.
            ["Orchestration:RequestDeadline"] = "00:00:06",
            ["Orchestration:DeadlineSweepInterval"] = "00:00:00.200",
        };
        // Every process that stores requests reads the deadline: the API for its own, the saga for the bus's.
        await using var orchestrator = new InferenceAppFactory(new Dictionary<string, string?>(_services.Settings("orchestrator").Concat(deadline)));
        await using var api = new InferenceAppFactory(new Dictionary<string, string?>(_services.Settings("api").Concat(deadline)));
        _ = orchestrator.Services;
        using var client = api.CreateDevClient();

        // No worker runs: the work waits in its queue, and only the deadline can end the request.
        var accepted = await client.SubmitAcceptedAsync("hello world");
        var id = accepted.GetProperty("id").GetString()!;
        var inference = await client.WaitUntilFinishedAsync(id);

        Assert.Equal(("quota_reserved", "failed"), (accepted.GetProperty("status").GetString(), inference.GetProperty("status").GetString()));
        Assert.Equal("deadline_exceeded", inference.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(0, inference.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        var reservationKey = $"{_services.RedisPrefix}:quota:{{dev}}:reservation:{id}";
        await Poll.UntilAsync(async () => await _services.Redis.HashGetAsync(reservationKey, "state") == "released", "the reservation to be released");
        var day = (string)(await _services.Redis.HashGetAsync(reservationKey, "day"))!;
        Assert.Equal(0, await _services.DevDayTokensAsync(day));
        // The management API counts with a delay of its own.
        await Poll.UntilAsync(async () => (await _services.QueuesAsync()).GetValueOrDefault(ProtocolEndpoints.WorkerFor("all-minilm-l6-v2")) == 1,
            "the work in its model's queue");

        // A worker that comes up later takes the expired work off the queue without running it.
        var workerLog = new CapturedLogs();
        await using var worker = new InferenceAppFactory(_services.Settings("worker"), workerLog);
        _ = worker.Services;
        await Poll.UntilAsync(async () => (await _services.QueuesAsync()).Values.All(messages => messages == 0), "the queues to drain");
        await Poll.UntilAsync(() => workerLog.Entries.Any(e => e.Message.Contains($"{id} was not run", StringComparison.Ordinal)), "the worker to skip the work");
        Assert.Null(await _services.RowAsync("SELECT 1 FROM inference_results WHERE inference_id = @id", ("id", Guid.Parse(id))));
        Assert.DoesNotContain((await _services.QueuesAsync()).Keys, name => name.EndsWith("_error", StringComparison.Ordinal));
    }
}
