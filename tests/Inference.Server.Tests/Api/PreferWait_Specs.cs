using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Api;
using Inference.Server.Persistence;
using Inference.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Api;

public sealed class When_a_submission_prefers_to_wait(QuickDeadlinesApp fixture) : IClassFixture<QuickDeadlinesApp>
{
    private readonly HttpClient _client = fixture.CreateDevClient();

    private InferenceWaiters Waiters => fixture.Services.GetRequiredService<InferenceWaiters>();

    [Fact]
    public async Task Should_answer_200_with_the_completed_inference_exactly_as_get_shows_it()
    {
        using var response = await _client.SendAsync(PreferWait.Request(new[] { "hello world" }, "wait=10"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("wait=10", PreferWait.Applied(response));
        var body = await response.Content.ReadAsStringAsync();
        var inference = JsonDocument.Parse(body).RootElement;
        Assert.Equal("completed", inference.GetProperty("status").GetString());
        Assert.Equal(384, Assert.Single(inference.Embeddings()).Length);
        var get = await _client.GetStringAsync($"/v1/inferences/{inference.GetProperty("id").GetString()}");
        Assert.Equal(get, body);
        Assert.Equal(0, Waiters.Count);
    }

    [Fact]
    public async Task Should_answer_the_usual_202_once_the_wait_is_over_when_the_request_takes_longer()
    {
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await _client.SendAsync(PreferWait.Request(SlowRequest.Body(), "wait=1"));

            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"answered after {clock.Elapsed}, before the wait was over");
            Assert.Equal("wait=1", PreferWait.Applied(response));
            var accepted = await response.Content.ReadFromJsonAsync<JsonElement>();
            var id = accepted.GetProperty("id").GetString();
            Assert.Equal($"/v1/inferences/{id}", response.Headers.Location?.OriginalString);
            // Answered when the wait was over, not when the request ended: it is still running.
            var now = await _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}");
            Assert.DoesNotContain(now.GetProperty("status").GetString(), new[] { "completed", "failed", "canceled" });
            Assert.Equal(0, Waiters.Count);
        }
        finally
        {
            // Even when an assertion failed: a slow request left running would hold the worker for the next spec.
            await CancelUnfinishedAsync();
        }
    }

    [Fact]
    public async Task Should_answer_200_with_the_canceled_inference_when_it_is_canceled_within_the_wait()
    {
        using var request = PreferWait.Request(SlowRequest.Body(), "wait=30");
        request.Headers.Add(CancelAfterHeader.Name, "2s");

        using var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("wait=30", PreferWait.Applied(response));
        var inference = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("canceled", "cancel_after_elapsed"),
            (inference.GetProperty("status").GetString(), inference.GetProperty("error").GetProperty("code").GetString()));
        Assert.Equal(0, Waiters.Count);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("respond-async")]
    [InlineData("wait=0")]
    [InlineData("wait=61")]
    [InlineData("wait=abc")]
    [InlineData("wait=1.5")]
    [InlineData("wait=-1")]
    public async Task Should_answer_a_plain_202_without_a_wait_it_honours(string? prefer)
    {
        using var response = await _client.SendAsync(PreferWait.Request(new[] { "hello" }, prefer));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.False(response.Headers.Contains(PreferWaitHeader.AppliedName));
        Assert.Equal(0, Waiters.Count);
    }

    [Fact]
    public async Task Should_free_the_waiter_of_a_client_that_hangs_up()
    {
        using var hangUp = new CancellationTokenSource();
        try
        {
            var sending = _client.SendAsync(PreferWait.Request(SlowRequest.Body(), "wait=60"), hangUp.Token);
            await Poll.UntilAsync(() => Waiters.Count == 1 || sending.IsCompleted, "the submission to wait");
            await Task.Delay(500);

            await hangUp.CancelAsync();

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);
            await Poll.UntilAsync(() => Waiters.Count == 0, "the waiter to be removed");
        }
        finally
        {
            await CancelUnfinishedAsync();
        }
    }

    /// <summary>Cancels what a spec left running, so that the next one finds the worker free.</summary>
    private async Task CancelUnfinishedAsync()
    {
        await using var scope = fixture.Services.CreateAsyncScope();
        var unfinished = await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences
            .Where(x => x.CurrentState != "Completed" && x.CurrentState != "Failed" && x.CurrentState != "Canceled")
            .Select(x => x.CorrelationId).ToListAsync();
        foreach (var id in unfinished)
            (await _client.PostAsync($"/v1/inferences/{id}/cancel", null)).Dispose();
    }
}

/// <summary>A tenant of 20 tokens a day, and an API that answers before the quota is decided.</summary>
public sealed class UndecidedQuotaApp() : EmbeddedApp(new Dictionary<string, string?>
{
    ["Dev:TokensPerDay"] = "20",
    ["Api:QuotaDecisionTimeout"] = "00:00:00",
});

public sealed class When_a_waiting_submission_is_refused_quota_after_it_was_accepted(UndecidedQuotaApp fixture)
    : IClassFixture<UndecidedQuotaApp>
{
    [Fact]
    public async Task Should_answer_200_with_the_failed_inference()
    {
        using var client = fixture.CreateDevClient();

        // 14 words and the two special tokens: 16 tokens, twice more than the day allows.
        var sixteenTokens = string.Join(' ', Enumerable.Repeat("word", 14));
        using (var first = await client.SendAsync(PreferWait.Request(sixteenTokens, "wait=10")))
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using var response = await client.SendAsync(PreferWait.Request(sixteenTokens, "wait=10"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("wait=10", PreferWait.Applied(response));
        var inference = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("failed", "quota_daily_tokens"),
            (inference.GetProperty("status").GetString(), inference.GetProperty("error").GetProperty("code").GetString()));
        Assert.Equal(0, fixture.Services.GetRequiredService<InferenceWaiters>().Count);
    }
}

/// <summary>
/// An API that serves one <c>/v1</c> request at a time, queues one, and holds one waiting submission. (The queue lets the
/// waiting submission's final read wait for the cancel that ended it to give the slot back.)
/// </summary>
public sealed class OneSlotOneWaiterApp() : EmbeddedApp(new Dictionary<string, string?>(SlowRequest.Limits)
{
    ["Api:MaxConcurrentRequests"] = "1",
    ["Api:MaxQueuedRequests"] = "1",
    ["Api:MaxWaiters"] = "1",
});

public sealed class When_a_submission_waits_in_an_api_of_one_slot(OneSlotOneWaiterApp fixture) : IClassFixture<OneSlotOneWaiterApp>
{
    [Fact]
    public async Task Should_leave_the_slot_to_other_requests_refuse_a_second_waiter_and_answer_the_cancel()
    {
        using var client = fixture.CreateDevClient();
        var waiters = fixture.Services.GetRequiredService<InferenceWaiters>();
        var sending = client.SendAsync(PreferWait.Request(SlowRequest.Body(), "wait=30"));
        var id = await Poll.UntilAsync(async () =>
        {
            await using var scope = fixture.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences
                .Select(x => (Guid?)x.CorrelationId).SingleOrDefaultAsync();
        }, stored => stored is not null, "the slow request to be stored");

        // The one slot is free while the submission waits: a read is served long before the wait is over.
        await Poll.UntilAsync(async () => { using var get = await client.GetAsync($"/v1/inferences/{id}"); return get.StatusCode; },
            status => status == HttpStatusCode.OK, "a read to be served beside the waiting submission");
        Assert.False(sending.IsCompleted);

        // The one waiter is taken: another submission is answered as without the preference.
        using (var second = await client.SendAsync(PreferWait.Request(new[] { "hello" }, "wait=10")))
        {
            Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
            Assert.False(second.Headers.Contains(PreferWaitHeader.AppliedName));
        }

        using (var cancel = await client.PostAsync($"/v1/inferences/{id}/cancel", null))
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);

        using var response = await sending;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("wait=30", PreferWait.Applied(response));
        Assert.Equal("canceled", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        Assert.Equal(0, waiters.Count);
    }
}

public sealed class The_prefer_wait_header
{
    [Theory]
    [InlineData("wait=10", 10)]
    [InlineData("wait", 60)]
    [InlineData("WAIT=5", 5)]
    [InlineData("wait = 7", 7)]
    [InlineData("wait=\"15\"", 15)]
    [InlineData("wait=5; foo=bar", 5)]
    [InlineData("respond-async, wait=20", 20)]
    [InlineData("handling=lenient,wait=1", 1)]
    [InlineData("wait=60", 60)]
    [InlineData("wait=10, wait=20", 10)]
    public void Should_read_the_first_wait_of_1_to_60_seconds(string header, int seconds) =>
        Assert.Equal(seconds, PreferWaitHeader.Parse([header]));

    [Theory]
    [InlineData("")]
    [InlineData("respond-async")]
    [InlineData("waiting=10")]
    [InlineData("wait=0")]
    [InlineData("wait=61")]
    [InlineData("wait=100")]
    [InlineData("wait=")]
    [InlineData("wait=abc")]
    [InlineData("wait=1.5")]
    [InlineData("wait=-1")]
    [InlineData("wait=+5")]
    [InlineData("wait=\uff15")] // a full-width digit
    [InlineData("wait=abc, wait=20")] // the first decides
    public void Should_ignore_anything_else(string header) => Assert.Null(PreferWaitHeader.Parse([header]));

    [Fact]
    public void Should_read_the_first_wait_across_several_headers() =>
        Assert.Equal(3, PreferWaitHeader.Parse(["respond-async", "wait=3", "wait=9"]));
}

public sealed class The_waiter_registry
{
    private readonly InferenceWaiters _waiters = new(Options.Create(new ApiOptions { MaxWaiters = 1 }));

    [Fact]
    public async Task Should_complete_a_waiter_when_its_request_ends_and_remove_it_once_disposed()
    {
        var id = Guid.NewGuid();
        using (var waiter = _waiters.TryAdd(id)!)
        {
            _waiters.Complete(Guid.NewGuid());
            _waiters.Complete(id);
            Assert.True(await waiter.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None));
        }

        Assert.Equal(0, _waiters.Count);
    }

    [Fact]
    public async Task Should_say_false_when_the_wait_is_over()
    {
        using var waiter = _waiters.TryAdd(Guid.NewGuid())!;

        Assert.False(await waiter.WaitAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None));
    }

    [Fact]
    public void Should_refuse_waiters_beyond_its_most_until_one_leaves()
    {
        var first = _waiters.TryAdd(Guid.NewGuid());
        Assert.NotNull(first);
        Assert.Null(_waiters.TryAdd(Guid.NewGuid()));

        first.Dispose();

        using var next = _waiters.TryAdd(Guid.NewGuid());
        Assert.NotNull(next);
        Assert.Equal(1, _waiters.Count);
    }
}

internal static class PreferWait
{
    public static HttpRequestMessage Request(object input, string? prefer)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/inferences")
        {
            Content = JsonContent.Create(new { model = InferencesClient.Model, input }),
        };
        if (prefer is not null)
            request.Headers.TryAddWithoutValidation(PreferWaitHeader.Name, prefer);
        return request;
    }

    public static string? Applied(HttpResponseMessage response) =>
        response.Headers.TryGetValues(PreferWaitHeader.AppliedName, out var values) ? string.Join(",", values) : null;
}
