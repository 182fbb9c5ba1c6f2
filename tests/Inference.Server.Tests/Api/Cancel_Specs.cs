using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Api;
using Inference.Server.Quota;
using Inference.Server.Tenants;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

/// <summary>
/// The embedded app, sweeping deadlines often so that a <c>Cancel-After</c> is kept within a fraction of a second, and
/// taking the <see cref="SlowRequest"/>.
/// </summary>
public sealed class QuickDeadlinesApp() : EmbeddedApp(new Dictionary<string, string?>(SlowRequest.Limits)
{
    ["Orchestration:DeadlineSweepInterval"] = "00:00:00.200",
    ["Orchestration:RequestDeadline"] = "00:05:00",
});

public sealed class When_a_client_cancels_a_request(QuickDeadlinesApp fixture) : IClassFixture<QuickDeadlinesApp>
{
    private readonly HttpClient _client = fixture.CreateDevClient();

    [Fact]
    public async Task Should_link_the_cancel_in_the_accepted_answer()
    {
        var accepted = await _client.SubmitAcceptedAsync(new[] { "hello" });

        var id = accepted.GetProperty("id").GetString();
        Assert.Equal($"/v1/inferences/{id}/cancel", accepted.GetProperty("urls").GetProperty("cancel").GetString());
        await _client.WaitUntilFinishedAsync(id!);
    }

    [Fact]
    public async Task Should_send_the_cancel_without_an_expiry_so_that_a_backlog_cannot_drop_it()
    {
        var observer = new CancelObserver();
        using var connected = fixture.Services.GetRequiredService<MassTransit.IBus>().ConnectConsumeObserver(observer);
        var live = await StartSlowAsync(_client);

        using var response = await _client.PostAsync($"/v1/inferences/{live}/cancel", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var consumed = Assert.Single(observer.Consumed, x => x.InferenceId == Guid.Parse(live));
        Assert.Null(consumed.ExpirationTime);
    }

    private sealed class CancelObserver : MassTransit.IConsumeObserver
    {
        public System.Collections.Concurrent.ConcurrentBag<(Guid InferenceId, DateTime? ExpirationTime)> Consumed { get; } = [];

        public Task PreConsume<T>(MassTransit.ConsumeContext<T> context)
            where T : class
        {
            if (context.Message is Inference.Contracts.CancelInference cancel)
                Consumed.Add((cancel.InferenceId, context.ExpirationTime));
            return Task.CompletedTask;
        }

        public Task PostConsume<T>(MassTransit.ConsumeContext<T> context)
            where T : class => Task.CompletedTask;

        public Task ConsumeFault<T>(MassTransit.ConsumeContext<T> context, Exception exception)
            where T : class => Task.CompletedTask;
    }

    [Fact]
    public async Task Should_cancel_a_running_request_release_its_tokens_and_show_zero_usage()
    {
        var id = await StartSlowAsync(_client);

        var response = await _client.PostAsync($"/v1/inferences/{id}/cancel", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var canceled = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("canceled", "canceled"), (canceled.GetProperty("status").GetString(), canceled.GetProperty("error").GetProperty("code").GetString()));
        Assert.Equal(0, canceled.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        Assert.Equal(["submitted", "quota_reserved", "inferring", "canceled"],
            canceled.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("status").GetString()));
        var ledger = fixture.Services.GetRequiredService<IQuotaLedger>();
        await Poll.UntilAsync(async () => (await ledger.GetReservationAsync(DevTenantSeeder.TenantId, Guid.Parse(id)))?.State == ReservationState.Released,
            "the reservation to be released");
        Assert.Equal(0, (await ledger.GetReservationAsync(DevTenantSeeder.TenantId, Guid.Parse(id)))!.ChargedTokens);

        // The worker stopped the run: a small request is served at once, not after the slow one's half minute.
        var next = await _client.SubmitAcceptedAsync(new[] { "hello" });
        var done = await _client.WaitUntilFinishedAsync(next.GetProperty("id").GetString()!);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        var stillCanceled = await _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}");
        Assert.Equal("canceled", stillCanceled.GetProperty("status").GetString());
        Assert.False(stillCanceled.TryGetProperty("output", out var output) && output.ValueKind != JsonValueKind.Null);
    }

    [Fact]
    public async Task Should_answer_409_inference_final_for_an_ended_request_and_change_nothing()
    {
        var completed = await _client.CompleteAsync(new[] { "hello" });
        var id = completed.GetProperty("id").GetString();

        var response = await _client.PostAsync($"/v1/inferences/{id}/cancel", null);

        var problem = await response.AssertProblemAsync(HttpStatusCode.Conflict, "inference_final");
        Assert.Equal((id, "completed"), (problem.GetProperty("inference_id").GetString(), problem.GetProperty("inference_status").GetString()));
        var after = await _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}");
        Assert.Equal(("completed", completed.GetProperty("updated_at").GetDateTimeOffset()),
            (after.GetProperty("status").GetString(), after.GetProperty("updated_at").GetDateTimeOffset()));
    }

    [Fact]
    public async Task Should_answer_409_to_a_second_cancel()
    {
        var id = await StartSlowAsync(_client);
        Assert.Equal(HttpStatusCode.OK, (await _client.PostAsync($"/v1/inferences/{id}/cancel", null)).StatusCode);

        var second = await _client.PostAsync($"/v1/inferences/{id}/cancel", null);

        await second.AssertProblemAsync(HttpStatusCode.Conflict, "inference_final");
    }

    [Theory]
    [InlineData("not-a-guid")]
    [InlineData("00000000-0000-0000-0000-000000000001")]
    public async Task Should_answer_404_for_an_unknown_id(string id)
    {
        var response = await _client.PostAsync($"/v1/inferences/{id}/cancel", null);

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "inference_not_found");
    }

    [Fact]
    public async Task Should_answer_404_for_another_tenants_request_and_leave_it_alone()
    {
        var id = await StartSlowAsync(_client);
        using var other = fixture.CreateClient();
        other.DefaultRequestHeaders.Authorization = new("Bearer", await fixture.Services.AddTenantAsync("tenant-cancel-other"));

        var response = await other.PostAsync($"/v1/inferences/{id}/cancel", null);

        await response.AssertProblemAsync(HttpStatusCode.NotFound, "inference_not_found");
        var mine = await _client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}");
        Assert.NotEqual("canceled", mine.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await _client.PostAsync($"/v1/inferences/{id}/cancel", null)).StatusCode);
    }

    [Fact]
    public async Task Should_cancel_with_cancel_after_elapsed_when_the_clients_deadline_passes()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/inferences")
        {
            Content = JsonContent.Create(new { model = InferencesClient.Model, input = SlowRequest.Body() }),
        };
        request.Headers.Add(CancelAfterHeader.Name, "2s");

        var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var ended = await _client.WaitUntilFinishedAsync(id);
        Assert.Equal(("canceled", "cancel_after_elapsed"), (ended.GetProperty("status").GetString(), ended.GetProperty("error").GetProperty("code").GetString()));
        Assert.Equal(0, ended.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        var created = ended.GetProperty("created_at").GetDateTimeOffset();
        var canceledAt = ended.GetProperty("updated_at").GetDateTimeOffset();
        Assert.InRange(canceledAt - created, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("abc", "cancel_after_invalid")]
    [InlineData("0s", "cancel_after_invalid")]
    [InlineData("0.5", "cancel_after_invalid")]
    [InlineData("-5", "cancel_after_invalid")]
    [InlineData("5m1h", "cancel_after_invalid")]
    [InlineData("5m1s", "cancel_after_too_long")]
    [InlineData("999999999999999999h", "cancel_after_too_long")]
    public async Task Should_refuse_a_cancel_after_that_is_malformed_or_longer_than_the_servers_deadline(string value, string code)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/inferences")
        {
            Content = JsonContent.Create(new { model = InferencesClient.Model, input = new[] { "hello" } }),
        };
        request.Headers.Add(CancelAfterHeader.Name, value);

        var response = await _client.SendAsync(request);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, code);
    }

    [Theory]
    [InlineData("1s")]
    [InlineData("90")]
    [InlineData("1m30s")]
    [InlineData("5m")]
    public async Task Should_accept_a_cancel_after_up_to_the_servers_deadline(string value)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/inferences")
        {
            Content = JsonContent.Create(new { model = InferencesClient.Model, input = new[] { "hello" } }),
        };
        request.Headers.Add(CancelAfterHeader.Name, value);

        var response = await _client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await _client.WaitUntilFinishedAsync((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
    }

    /// <summary>Submits a request the model needs half a minute for and waits until the worker runs it.</summary>
    internal static async Task<string> StartSlowAsync(HttpClient client)
    {
        var accepted = await client.SubmitAcceptedAsync(SlowRequest.Body());
        var id = accepted.GetProperty("id").GetString()!;
        await Poll.UntilAsync(async () => (await client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}")).GetProperty("status").GetString(),
            status => status == "inferring", "the worker to start the slow request");
        return id;
    }
}

public sealed class The_cancel_after_header
{
    [Theory]
    [InlineData("30s", 30)]
    [InlineData("5m", 300)]
    [InlineData("1h30m", 5400)]
    [InlineData("1h", 3600)]
    [InlineData("2m5s", 125)]
    [InlineData("90", 90)]
    [InlineData(" 45s ", 45)]
    public void Should_read_hours_minutes_seconds_or_plain_seconds(string text, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), CancelAfterHeader.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("s")]
    [InlineData("1.5s")]
    [InlineData("5 m")]
    [InlineData("1s1m")]
    [InlineData("1d")]
    [InlineData("-1")]
    [InlineData("1h1h")]
    [InlineData("1h\u0663\u0660m")] // Arabic-Indic digits: not read as 30, nor as 0
    [InlineData("\uff19\uff10")] // full-width digits
    public void Should_read_nothing_else(string text) => Assert.Null(CancelAfterHeader.Parse(text));
}
