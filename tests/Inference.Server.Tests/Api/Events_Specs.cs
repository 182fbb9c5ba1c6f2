using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Api;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Api;

/// <summary>An API whose event streams beat every 200 ms and poll every 100 ms, so that the specs see both soon.</summary>
public sealed class QuickEventsApp() : EmbeddedApp(new Dictionary<string, string?>(SlowRequest.Limits)
{
    ["Api:EventHeartbeatInterval"] = "00:00:00.200",
    ["Api:EventPollInterval"] = "00:00:00.100",
    ["Orchestration:RequestDeadline"] = "00:05:00",
});

public sealed class When_a_client_follows_a_request_with_events(QuickEventsApp fixture) : IClassFixture<QuickEventsApp>
{
    private readonly HttpClient _client = fixture.CreateDevClient();

    private InferenceEventHub Hub => fixture.Services.GetRequiredService<InferenceEventHub>();

    [Fact]
    public async Task Should_stream_every_state_it_sees_to_completed_with_the_output_in_the_last_event_only()
    {
        var id = await SubmitAsync(Events.SecondsOfWork());

        await using var stream = await EventStream.OpenOkAsync(_client, id);
        var events = await stream.ReadEventsToEndAsync();

        Assert.All(events, e => Assert.Equal(InferenceEventStream.StatusEvent, e.Name));
        Assert.Contains(events[0].Status, new[] { "submitted", "quota_reserved", "inferring" });
        Assert.Contains("inferring", events.Select(e => e.Status)); // Announced by no event: the poll saw it.
        Events.AssertIdsAreTheHistory(events);
        Assert.All(events[..^1], e => Assert.Equal(JsonValueKind.Null, e.Data!.Value.GetProperty("output").ValueKind));
        var last = events[^1];
        Assert.Equal("completed", last.Status);
        Assert.Equal(Events.InputsOfSecondsOfWork, last.Data!.Value.Embeddings().Length);
        Assert.Equal(await _client.GetStringAsync($"/v1/inferences/{id}"), last.Data!.Value.GetRawText());
        await Poll.UntilAsync(() => Hub.Count == 0, "the stream to be removed");
    }

    [Fact]
    public async Task Should_send_the_final_event_and_close_when_the_request_has_already_ended()
    {
        var inference = await _client.CompleteAsync(new[] { "hello world" });
        var id = inference.GetProperty("id").GetString()!;

        await using var stream = await EventStream.OpenOkAsync(_client, id);
        var events = await stream.ReadEventsToEndAsync();

        var only = Assert.Single(events);
        Assert.Equal(inference.GetProperty("history").GetArrayLength() - 1, only.EventId);
        Assert.Equal(await _client.GetStringAsync($"/v1/inferences/{id}"), only.Data!.Value.GetRawText());
        Assert.Equal(384, Assert.Single(only.Data!.Value.Embeddings()).Length);
    }

    [Fact]
    public async Task Should_resume_after_the_last_event_id_without_repeating_an_event()
    {
        var id = await SubmitAsync(Events.SecondsOfWork());
        long seen;
        await using (var first = await EventStream.OpenOkAsync(_client, id))
            seen = (await first.ReadEventAsync())!.EventId;

        await using var resumed = await EventStream.OpenOkAsync(_client, id, seen.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var events = await resumed.ReadEventsToEndAsync();

        Assert.NotEmpty(events);
        Assert.All(events, e => Assert.True(e.EventId > seen, $"event {e.EventId} repeats what {seen} had shown"));
        Events.AssertIdsAreTheHistory(events);
        Assert.Equal("completed", events[^1].Status);

        // Once final: the final event again to a client that missed it, nothing to one that saw it.
        var finalId = events[^1].EventId;
        await using (var missed = await EventStream.OpenOkAsync(_client, id, (finalId - 1).ToString(System.Globalization.CultureInfo.InvariantCulture)))
            Assert.Equal([finalId], (await missed.ReadEventsToEndAsync()).Select(e => e.EventId));
        await using (var saw = await EventStream.OpenOkAsync(_client, id, finalId.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            Assert.Empty(await saw.ReadEventsToEndAsync());
    }

    [Fact]
    public async Task Should_send_heartbeats_while_nothing_changes()
    {
        var id = await SubmitAsync(SlowRequest.Body());
        await using var stream = await EventStream.OpenOkAsync(_client, id);
        Assert.NotNull(await stream.ReadEventAsync());

        var heartbeats = 0;
        while (heartbeats < 3)
        {
            var item = await stream.ReadAsync(TimeSpan.FromSeconds(5));
            Assert.NotNull(item);
            if (item.Comment is not null)
                heartbeats++;
        }

        await CancelAsync(id);
    }

    [Fact]
    public async Task Should_end_with_canceled_when_the_request_is_canceled()
    {
        var id = await SubmitAsync(SlowRequest.Body());
        await using var stream = await EventStream.OpenOkAsync(_client, id);
        var first = await stream.ReadEventAsync();
        Assert.NotEqual("canceled", first!.Status);

        await CancelAsync(id);
        var events = await stream.ReadEventsToEndAsync();

        var last = events[^1];
        Assert.Equal("canceled", last.Status);
        Assert.Equal("canceled", last.Data!.Value.GetProperty("error").GetProperty("code").GetString());
        Events.AssertIdsAreTheHistory([first, .. events]);
        await Poll.UntilAsync(() => Hub.Count == 0, "the stream to be removed");
    }

    [Fact]
    public async Task Should_remove_the_stream_of_a_client_that_hangs_up()
    {
        var id = await SubmitAsync(SlowRequest.Body());
        var stream = await EventStream.OpenOkAsync(_client, id);
        Assert.NotNull(await stream.ReadEventAsync());
        Assert.Equal(1, Hub.Count);

        await stream.DisposeAsync();

        await Poll.UntilAsync(() => Hub.Count == 0, "the stream of the client that left to be removed");
        await CancelAsync(id);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("99999999999999999999999")]
    public async Task Should_refuse_a_last_event_id_that_is_no_event_id(string lastEventId)
    {
        var id = (await _client.SubmitAcceptedAsync(new[] { "hello" })).GetProperty("id").GetString()!;

        var (stream, response) = await EventStream.OpenAsync(_client, id, lastEventId);

        Assert.Null(stream);
        using (response)
            await response.AssertProblemAsync(HttpStatusCode.BadRequest, "last_event_id_invalid");
        Assert.Equal(0, Hub.Count);
    }

    private async Task<string> SubmitAsync(object input) =>
        (await _client.SubmitAcceptedAsync(input)).GetProperty("id").GetString()!;

    private async Task CancelAsync(string id)
    {
        using var cancel = await _client.PostAsync($"/v1/inferences/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
    }
}

public sealed class When_a_client_asks_for_the_events_of_a_request_it_cannot_see(EmbeddedApp fixture) : IClassFixture<EmbeddedApp>
{
    [Fact]
    public async Task Should_answer_404_for_an_unknown_id_a_malformed_one_and_another_tenants()
    {
        using var dev = fixture.CreateDevClient();
        var devRequest = (await dev.SubmitAcceptedAsync(new[] { "hello" })).GetProperty("id").GetString()!;
        using var other = fixture.CreateClient();
        other.DefaultRequestHeaders.Authorization = new("Bearer", await fixture.Services.AddTenantAsync($"other-{Guid.NewGuid():N}"));

        foreach (var (client, id) in new[] { (dev, Guid.NewGuid().ToString()), (dev, "not-an-id"), (other, devRequest) })
        {
            var (stream, response) = await EventStream.OpenAsync(client, id);
            Assert.Null(stream);
            using (response)
                await response.AssertProblemAsync(HttpStatusCode.NotFound, "inference_not_found");
        }

        Assert.Equal(0, fixture.Services.GetRequiredService<InferenceEventHub>().Count);
        await dev.WaitUntilFinishedAsync(devRequest);
    }
}

public sealed class When_a_client_reads_the_openapi_document_of_the_event_stream(EmbeddedApp fixture) : IClassFixture<EmbeddedApp>
{
    [Fact]
    public async Task Should_describe_an_event_stream_and_its_problems()
    {
        using var client = fixture.CreateClient();

        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var operation = document.GetProperty("paths").GetProperty("/v1/inferences/{id}/events").GetProperty("get");
        Assert.Equal("StreamInferenceEvents", operation.GetProperty("operationId").GetString());
        var responses = operation.GetProperty("responses");
        Assert.True(responses.GetProperty("200").GetProperty("content").TryGetProperty("text/event-stream", out _));
        foreach (var status in new[] { "400", "404", "503" })
            Assert.True(responses.GetProperty(status).GetProperty("content").TryGetProperty("application/problem+json", out _), status);
    }
}

/// <summary>An API of one <c>/v1</c> slot, no queue, and room for one event stream.</summary>
public sealed class OneSlotOneStreamApp() : EmbeddedApp(new Dictionary<string, string?>(SlowRequest.Limits)
{
    ["Api:MaxConcurrentRequests"] = "1",
    ["Api:MaxQueuedRequests"] = "0",
    ["Api:MaxEventStreams"] = "1",
    ["Api:EventHeartbeatInterval"] = "00:00:00.200",
    ["Orchestration:RequestDeadline"] = "00:05:00",
});

public sealed class When_streams_meet_the_api_limits(OneSlotOneStreamApp fixture) : IClassFixture<OneSlotOneStreamApp>
{
    [Fact]
    public async Task Should_hold_no_slot_while_streaming_and_refuse_streams_beyond_the_most_with_503()
    {
        using var client = fixture.CreateDevClient();
        var hub = fixture.Services.GetRequiredService<InferenceEventHub>();
        var id = (await client.SubmitAcceptedAsync(SlowRequest.Body())).GetProperty("id").GetString()!;
        var stream = await EventStream.OpenOkAsync(client, id);
        Assert.NotNull(await stream.ReadEventAsync());

        // The one slot is free while the stream waits: a read is served beside it (the stream's own reads take it for
        // a moment, hence the retry).
        await Poll.UntilAsync(async () => { using var get = await client.GetAsync($"/v1/inferences/{id}"); return get.StatusCode; },
            status => status == HttpStatusCode.OK, "a read to be served beside the stream");

        var (second, refused) = await EventStream.OpenAsync(client, id);
        Assert.Null(second);
        using (refused)
        {
            await refused.AssertProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            Assert.NotNull(refused.Headers.RetryAfter);
        }

        // Once the first client leaves, its room is another's.
        await stream.DisposeAsync();
        await Poll.UntilAsync(() => hub.Count == 0, "the first stream to be removed");
        await using (var next = await EventStream.OpenOkAsync(client, id))
            Assert.NotNull(await next.ReadEventAsync());

        using var cancel = await client.PostAsync($"/v1/inferences/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
    }
}

public sealed class The_event_hub
{
    private readonly InferenceEventHub _hub = new(Options.Create(new ApiOptions { MaxEventStreams = 2 }));

    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(50);

    [Fact]
    public async Task Should_wake_only_the_streams_of_the_request_notified()
    {
        var (id, other) = (Guid.NewGuid(), Guid.NewGuid());
        using var stream = _hub.TryWatch(id)!;
        using var otherStream = _hub.TryWatch(other)!;

        _hub.Notify(id);

        Assert.True(await stream.WaitAsync(Short, TimeProvider.System, CancellationToken.None));
        Assert.False(await otherStream.WaitAsync(Short, TimeProvider.System, CancellationToken.None));
        Assert.False(await stream.WaitAsync(Short, TimeProvider.System, CancellationToken.None)); // One wake-up, one wait.
    }

    [Fact]
    public async Task Should_wake_a_stream_whose_request_is_polled_in_another_status_or_gone()
    {
        var (same, moved, gone) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var hub = new InferenceEventHub(Options.Create(new ApiOptions { MaxEventStreams = 3 }));
        using var sameStream = hub.TryWatch(same)!;
        using var movedStream = hub.TryWatch(moved)!;
        using var goneStream = hub.TryWatch(gone)!;
        sameStream.SeenStatus = movedStream.SeenStatus = goneStream.SeenStatus = "quota_reserved";

        hub.Observe(hub.Watched(), new Dictionary<Guid, string> { [same] = "quota_reserved", [moved] = "inferring" });

        Assert.False(await sameStream.WaitAsync(Short, TimeProvider.System, CancellationToken.None));
        Assert.True(await movedStream.WaitAsync(Short, TimeProvider.System, CancellationToken.None));
        Assert.True(await goneStream.WaitAsync(Short, TimeProvider.System, CancellationToken.None));
    }

    [Fact]
    public async Task Should_refuse_streams_beyond_its_most_and_let_the_poller_sleep_while_none_is_open()
    {
        var watched = _hub.WhenWatchedAsync(CancellationToken.None);
        Assert.False(watched.IsCompleted);

        var first = _hub.TryWatch(Guid.NewGuid())!;
        await watched.WaitAsync(TimeSpan.FromSeconds(5));
        using var second = _hub.TryWatch(Guid.NewGuid());
        Assert.NotNull(second);
        Assert.Null(_hub.TryWatch(Guid.NewGuid()));

        first.Dispose();
        first.Dispose();

        Assert.Equal(1, _hub.Count);
        using var third = _hub.TryWatch(Guid.NewGuid());
        Assert.NotNull(third);
    }
}

internal static class Events
{
    /// <summary>Inputs of <see cref="SecondsOfWork"/>.</summary>
    public const int InputsOfSecondsOfWork = 120;

    /// <summary>A request the model needs a few seconds for (about 24k tokens), so that a stream sees it inferring.</summary>
    public static string[] SecondsOfWork() => [.. SlowRequest.Body().Take(InputsOfSecondsOfWork)];

    /// <summary>Each event's id is the index of its state in the request's history, and ids only grow.</summary>
    public static void AssertIdsAreTheHistory(IReadOnlyList<EventStream.Item> events)
    {
        foreach (var e in events)
            Assert.Equal(e.Data!.Value.GetProperty("history").GetArrayLength() - 1, e.EventId);
        Assert.Equal(events.Select(e => e.EventId).Order(), events.Select(e => e.EventId));
        Assert.Equal(events.Count, events.Select(e => e.EventId).Distinct().Count());
    }
}
