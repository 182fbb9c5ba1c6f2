using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

namespace Inference.LoadTest;

/// <summary>
/// Submits every request as a client would, following each accepted one until it is final, then reads every accepted
/// request once more at the end, with patience through outages.
/// </summary>
internal sealed class LoadRun(HttpClient http, LoadOptions options)
{
    private static readonly string[] FinalStatuses = ["completed", "failed", "canceled"];

    /// <summary>How long a 503's <c>Retry-After</c> is obeyed at most; a server that asks for longer is asked again sooner.</summary>
    private static readonly TimeSpan LongestRetryAfter = TimeSpan.FromSeconds(30);

    private readonly LoadRecorder _recorder = new();
    private readonly Stopwatch _clock = new();

    /// <summary>Makes this run's <c>Idempotency-Key</c>s its own: a submission's key is this and its index.</summary>
    private readonly string _keyPrefix = $"load-{Guid.NewGuid():N}";
    private int _next;

    public async Task<Report> RunAsync()
    {
        _clock.Start();
        await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(_ => SubmitLoopAsync()));
        var loadSeconds = _clock.Elapsed.TotalSeconds;

        // Every request answered 202 must be final and readable, and never 404, however the run went.
        var ids = _recorder.AcceptedIds;
        var deadline = _clock.Elapsed + options.FinalTimeout;
        var cursor = -1;
        await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref cursor)) < ids.Count)
                await FollowAsync(ids[index], deadline, recordLatency: false);
        }));

        return _recorder.Report(options, loadSeconds);
    }

    private async Task SubmitLoopAsync()
    {
        int index;
        while ((index = Interlocked.Increment(ref _next) - 1) < options.Requests)
        {
            var submission = Submission.Create(index, options);
            var id = await SubmitAsync(submission);
            if (id is { } accepted)
            {
                var follow = FollowAsync(accepted, _clock.Elapsed + options.FollowTimeout, recordLatency: true);
                if (submission.CancelDelay is { } delay)
                    await Task.WhenAll(follow, CancelAsync(accepted, delay));
                else
                    await follow;
            }
        }
    }

    /// <summary>
    /// POSTs the submission, again after each <c>503 unavailable</c> with <c>Retry-After</c>; the id if accepted (a <c>202</c>,
    /// or a <c>200</c> when an attempt sent again is answered with the request an earlier one stored, already ended).
    /// </summary>
    private async Task<Guid?> SubmitAsync(Submission submission)
    {
        var started = _clock.Elapsed;
        var giveUpAt = started + options.RetryPatience;
        while (true)
        {
            var sent = _clock.Elapsed;
            Answer answer;
            try
            {
                using var content = new ByteArrayContent(submission.Body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/v1/inferences", UriKind.Relative)) { Content = content };
                if (submission.CancelAfter is { } cancelAfter)
                    request.Headers.Add("Cancel-After", cancelAfter);
                // Every attempt of one submission carries its key: a 503 whose commit had gone through (its answer was lost
                // with the connection) is then answered, when sent again, with the request it stored, not a second one.
                request.Headers.Add("Idempotency-Key", $"{_keyPrefix}-{submission.Index}");
                using var response = await http.SendAsync(request);
                answer = await Answer.ReadAsync(response);
            }
            catch (Exception exception) when (IsConnectionFailure(exception))
            {
                var what = Describe(exception);
                _recorder.PostAnswered(what, (_clock.Elapsed - sent).TotalMilliseconds);
                _recorder.Refused(submission, Outcome(submission, what), connectionError: what);
                if (submission.Kind != InputKind.Normal)
                    _recorder.BadInputAnswered(submission, what);
                return null;
            }

            _recorder.PostAnswered(answer.Name, (_clock.Elapsed - sent).TotalMilliseconds);
            if (answer.IsRetryLater)
            {
                // The server's cue: nothing was taken, send the same submission again later.
                _recorder.RetryLater();
                if (_clock.Elapsed + answer.RetryAfter!.Value < giveUpAt)
                {
                    await Task.Delay(answer.RetryAfter.Value < LongestRetryAfter ? answer.RetryAfter.Value : LongestRetryAfter);
                    continue;
                }

                _recorder.Refused(submission, Outcome(submission, "gave_up_after_503"));
                if (submission.Kind != InputKind.Normal)
                    _recorder.BadInputAnswered(submission, answer.Name);
                return null;
            }

            if (submission.Kind != InputKind.Normal)
                _recorder.BadInputAnswered(submission, answer.Name);

            if (answer.Status is HttpStatusCode.Accepted or HttpStatusCode.OK && answer.Id is { } id)
            {
                if (submission.CancelAfter is not null)
                    _recorder.CancelAfterSent();
                _recorder.Accepted(id, submission, started, (_clock.Elapsed - started).TotalMilliseconds);
                return id;
            }

            var serverError = (int)answer.Status >= 500 ? answer.Name : null;
            _recorder.Refused(submission, Outcome(submission, answer.Name), serverError: serverError);
            return null;
        }
    }

    /// <summary>
    /// Cancels the request <paramref name="delay"/> after its <c>202</c>, once, and records the answer: <c>200</c> with the
    /// status it shows, <c>409 inference_final</c>, <c>404</c>, <c>503 unavailable</c> during an outage (the cancel may
    /// still happen), or a connection failure. Not sent again: the answer is the figure.
    /// </summary>
    private async Task CancelAsync(Guid id, TimeSpan delay)
    {
        await Task.Delay(delay);
        string what;
        try
        {
            using var response = await http.PostAsync(new Uri($"/v1/inferences/{id}/cancel", UriKind.Relative), content: null);
            var answer = await Answer.ReadAsync(response);
            what = answer.Status == HttpStatusCode.OK ? $"200 {answer.InferenceStatus ?? "without status"}" : answer.Name;
        }
        catch (Exception exception) when (IsConnectionFailure(exception))
        {
            what = Describe(exception);
        }

        _recorder.CancelAnswered(id, what);
    }

    /// <summary>
    /// GETs the request until it is final or <paramref name="deadline"/> passes. A 404 is recorded (a request answered
    /// 202 must always be found) and asked again, as are 5xx and connection failures: outages pass.
    /// </summary>
    private async Task FollowAsync(Guid id, TimeSpan deadline, bool recordLatency)
    {
        var pause = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(new Uri($"/v1/inferences/{id}", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    _recorder.NotFoundAfterAccepted(id);
                }
                else if (response.StatusCode == HttpStatusCode.OK)
                {
                    var body = await response.Content.ReadFromJsonAsync<JsonElement>();
                    if (Final(body, _recorder.SubmissionOf(id)) is { } final)
                    {
                        _recorder.Final(id, final, recordLatency ? _clock.Elapsed : null);
                        return;
                    }
                }
                else
                {
                    _recorder.GetFailed((await Answer.ReadAsync(response)).Name);
                }
            }
            catch (Exception exception) when (IsConnectionFailure(exception))
            {
                _recorder.GetFailed(Describe(exception));
            }
            catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                // A 200 whose body lacks what the API documents: asked again, and counted.
                _recorder.GetFailed("200 body not as documented");
            }

            if (_clock.Elapsed >= deadline)
                return;
            await Task.Delay(pause);
            pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 1.5, 1000));
        }
    }

    private static FinalState? Final(JsonElement body, Submission submission)
    {
        var status = body.GetProperty("status").GetString();
        if (!FinalStatuses.Contains(status))
            return null;

        var tokens = body.TryGetProperty("usage", out var usage) ? usage.GetProperty("total_tokens").GetInt64() : 0;
        if (status == "failed")
        {
            var code = body.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
                ? error.GetProperty("code").GetString() : null;
            return new FinalState($"failed_{code ?? "without_code"}", code is not null, tokens);
        }

        if (status == "canceled")
        {
            var code = body.TryGetProperty("error", out var reason) && reason.ValueKind == JsonValueKind.Object
                ? reason.GetProperty("code").GetString() : null;
            return new FinalState($"canceled_{code ?? "without_code"}", code is not null, tokens);
        }

        var readable = body.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Object
            && output.TryGetProperty("embeddings", out var embeddings) && embeddings.GetArrayLength() == submission.Inputs
            && embeddings.EnumerateArray().All(vector => vector.GetArrayLength() > 0);
        return new FinalState("completed", readable, tokens);
    }

    /// <summary>A submission that was not accepted, by its kind and its last answer: <c>nul: 400 input_invalid_character</c>.</summary>
    private static string Outcome(Submission submission, string answer) => $"{submission.KindName}: {answer}";

    private static bool IsConnectionFailure(Exception exception) =>
        exception is HttpRequestException or TaskCanceledException or IOException or SocketException;

    private static string Describe(Exception exception) => exception switch
    {
        TaskCanceledException => "client_timeout",
        HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } => "connection_error",
        HttpRequestException { HttpRequestError: var error } when error != HttpRequestError.Unknown =>
            $"connection_error {JsonNamingPolicy.SnakeCaseLower.ConvertName(error.ToString())}",
        _ => $"connection_error {exception.GetType().Name}",
    };

    /// <summary>An HTTP answer as the report names it: the status and the problem's <c>code</c>, e.g. <c>400 invalid_json</c>.</summary>
    private sealed record Answer(HttpStatusCode Status, string Name, string? Code, TimeSpan? RetryAfter, Guid? Id, string? InferenceStatus = null)
    {
        /// <summary>A 503 <c>unavailable</c> with <c>Retry-After</c>: the one answer that asks to be sent again.</summary>
        public bool IsRetryLater => Status == HttpStatusCode.ServiceUnavailable && Code == "unavailable" && RetryAfter is not null;

        public static async Task<Answer> ReadAsync(HttpResponseMessage response)
        {
            var text = await response.Content.ReadAsStringAsync();
            string? code = null;
            Guid? id = null;
            string? status = null;
            try
            {
                using var body = JsonDocument.Parse(text);
                if (body.RootElement.ValueKind == JsonValueKind.Object)
                {
                    if (body.RootElement.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String)
                        code = c.GetString();
                    if (response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK && body.RootElement.TryGetProperty("id", out var i)
                        && i.TryGetGuid(out var guid))
                        id = guid;
                    if (response.StatusCode == HttpStatusCode.OK && body.RootElement.TryGetProperty("status", out var s)
                        && s.ValueKind == JsonValueKind.String)
                        status = s.GetString();
                }
            }
            catch (JsonException)
            {
                // Not JSON (a proxy's page, an empty body): the status alone names it.
            }

            if (code is not null && (int)response.StatusCode >= 400 && response.Content.Headers.ContentType?.MediaType != "application/problem+json")
                code += " (not problem+json)";

            var retryAfter = response.Headers.RetryAfter switch
            {
                { Delta: { } delta } => delta,
                { Date: { } date } => date - DateTimeOffset.UtcNow,
                _ => (TimeSpan?)null,
            };
            if (retryAfter < TimeSpan.Zero)
                retryAfter = TimeSpan.Zero;

            var name = response.StatusCode == HttpStatusCode.Accepted || code is null ? $"{(int)response.StatusCode}" : $"{(int)response.StatusCode} {code}";
            return new Answer(response.StatusCode, name, code, retryAfter, id, status);
        }
    }
}
