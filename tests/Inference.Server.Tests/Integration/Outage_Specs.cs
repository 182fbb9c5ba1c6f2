using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;
using Npgsql;

namespace Inference.Server.Tests.Integration;

/// <summary>
/// PostgreSQL goes away for a few seconds, as in a restart or a failover, seen by one process through a relay that
/// drops its connections: the API refuses what it cannot store, and the orchestrator waits the outage out.
/// </summary>
public sealed class When_the_database_is_away_for_a_while : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();
    private TcpProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        await _services.InitializeAsync();
        var direct = new NpgsqlConnectionStringBuilder(_services.PostgresConnectionString);
        _proxy = new TcpProxy(direct.Host!, direct.Port);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _services.DisposeAsync();
    }

    [Fact]
    public async Task Should_answer_503_unavailable_with_retry_after_and_store_nothing_then_accept_once_it_is_back()
    {
        await using var app = new InferenceAppFactory(ThroughProxy(_services.Settings()));
        using var client = app.CreateDevClient();
        var before = (await client.CompleteAsync("hello world")).GetProperty("id").GetString()!;

        _proxy.Cut();
        using (var refused = await client.SubmitAsync("hello again"))
        {
            await refused.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            Assert.InRange(refused.Headers.RetryAfter?.Delta?.TotalSeconds ?? -1, 1, 60);
        }

        using (var unreadable = await client.GetAsync($"/v1/inferences/{before}"))
            await unreadable.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");

        _proxy.Restore();
        var after = await client.CompleteAsync("hello at last");

        Assert.Equal("completed", after.GetProperty("status").GetString());
        Assert.Equal(2L, (await _services.RowAsync("SELECT count(*) AS n FROM inference_sagas"))!["n"]);
    }

    [Fact]
    public async Task Should_finish_a_request_whose_orchestrator_lost_the_database_and_charge_it_once()
    {
        // The orchestrator reaches PostgreSQL through the relay; the API and the worker do not.
        await using var orchestrator = new InferenceAppFactory(ThroughProxy(_services.Settings("orchestrator")));
        await using var worker = new InferenceAppFactory(_services.Settings("worker"));
        await using var api = new InferenceAppFactory(new Dictionary<string, string?>(_services.Settings("api"))
        {
            ["Api:QuotaDecisionTimeout"] = "00:00:00.500",
        });
        _ = orchestrator.Services;
        _ = worker.Services;
        using var client = api.CreateDevClient();

        _proxy.Cut();
        var accepted = await client.SubmitAcceptedAsync("A man is playing a guitar.");
        var id = accepted.GetProperty("id").GetString()!;
        Assert.Equal("submitted", accepted.GetProperty("status").GetString());

        // Longer than the few seconds the steps used to retry before giving up on the request.
        await Task.Delay(TimeSpan.FromSeconds(6));
        Assert.Equal("submitted", (await client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}")).GetProperty("status").GetString());
        _proxy.Restore();

        var inference = await client.WaitUntilFinishedAsync(id);
        Assert.Equal("completed", inference.GetProperty("status").GetString());
        var tokens = inference.GetProperty("usage").GetProperty("total_tokens").GetInt32();
        var reservationKey = $"{_services.RedisPrefix}:quota:{{dev}}:reservation:{id}";
        await Poll.UntilAsync(async () => await _services.Redis.HashGetAsync(reservationKey, "state") == "settled", "the reservation to settle");
        var day = (string)(await _services.Redis.HashGetAsync(reservationKey, "day"))!;
        Assert.Equal(tokens, await _services.DevDayTokensAsync(day));
        Assert.DoesNotContain((await _services.QueuesAsync()).Keys, name => name.EndsWith("_error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_wait_at_start_for_a_database_that_is_not_back_yet_and_then_serve()
    {
        _proxy.Cut();
        await using var app = new InferenceAppFactory(ThroughProxy(_services.Settings()));

        // Started during the outage, the process waits for the database instead of exiting with the first refusal.
        var starting = Task.Run(() => app.Services);
        var finishedEarly = await Task.WhenAny(starting, Task.Delay(TimeSpan.FromSeconds(4))) == starting;
        _proxy.Restore();

        Assert.False(finishedEarly && starting.IsFaulted, $"The start failed during the outage: {starting.Exception?.GetBaseException().Message}");
        await starting.WaitAsync(TimeSpan.FromSeconds(60));
        using var client = app.CreateDevClient();
        Assert.Equal("completed", (await client.CompleteAsync("hello after the outage")).GetProperty("status").GetString());
    }

    private Dictionary<string, string?> ThroughProxy(Dictionary<string, string?> settings)
    {
        settings["ConnectionStrings:Postgres"] = new NpgsqlConnectionStringBuilder(_services.PostgresConnectionString)
        {
            Host = "127.0.0.1",
            Port = _proxy.Port,
            Timeout = 3,
        }.ConnectionString;
        return settings;
    }
}
