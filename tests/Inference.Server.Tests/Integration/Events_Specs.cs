using Inference.Server.Api;
using Inference.Server.Tests.Api;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Integration;

/// <summary>
/// Event streams on the real services, each role in its own process: an API process that neither took the request nor
/// runs any of it streams its changes, from the outcome events on its own queue and its poll of PostgreSQL.
/// </summary>
public sealed class When_a_request_is_followed_from_another_api_process : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_stream_it_to_completed_from_every_api_process()
    {
        await using var orchestrator = new InferenceAppFactory(_services.Settings("orchestrator"));
        await using var worker = new InferenceAppFactory(_services.Settings("worker"));
        await using var firstApi = new InferenceAppFactory(Api());
        await using var secondApi = new InferenceAppFactory(Api());
        _ = orchestrator.Services;
        _ = worker.Services;
        using var first = firstApi.CreateDevClient();
        using var second = secondApi.CreateDevClient();

        var id = (await first.SubmitAcceptedAsync(Events.SecondsOfWork())).GetProperty("id").GetString()!;
        await using var fromSecond = await EventStream.OpenOkAsync(second, id);
        await using var fromFirst = await EventStream.OpenOkAsync(first, id);
        var streamed = await Task.WhenAll(fromSecond.ReadEventsToEndAsync(), fromFirst.ReadEventsToEndAsync());

        var get = await second.GetStringAsync($"/v1/inferences/{id}");
        foreach (var events in streamed)
        {
            Events.AssertIdsAreTheHistory(events);
            Assert.Contains("inferring", events.Select(e => e.Status));
            Assert.Equal("completed", events[^1].Status);
            Assert.Equal(get, events[^1].Data!.Value.GetRawText());
        }

        Assert.Equal(Events.InputsOfSecondsOfWork, streamed[0][^1].Data!.Value.Embeddings().Length);
        foreach (var api in new[] { firstApi, secondApi })
            await Poll.UntilAsync(() => api.Services.GetRequiredService<InferenceEventHub>().Count == 0, "the streams to be removed");
    }

    private Dictionary<string, string?> Api()
    {
        var settings = _services.Settings("api");
        settings["Api:EventPollInterval"] = "00:00:00.100";
        return settings;
    }
}
