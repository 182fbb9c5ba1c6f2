using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Inference.Benchmarks.Pipeline;

/// <summary>
/// Submits the same single-input request over and over from a fixed number of concurrent clients, each sending its
/// next request as soon as the watcher has seen its previous one end. It never reads a request back through the API.
/// </summary>
internal sealed class LoadDriver(HttpClient api, FinalStateWatcher watcher, string sentence, TimeSpan requestTimeout)
{
    private readonly byte[] _body = JsonSerializer.SerializeToUtf8Bytes(new { model = "all-minilm-l6-v2", input = sentence });

    /// <summary>Sends <paramref name="requests"/> requests, <paramref name="concurrency"/> at a time, and waits for all to end.</summary>
    /// <exception cref="TimeoutException">A request did not end within the request timeout.</exception>
    public async Task<IReadOnlyList<RequestOutcome>> RunAsync(int concurrency, int requests, CancellationToken cancellationToken)
    {
        var outcomes = new RequestOutcome[requests];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Math.Min(concurrency, requests)).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < requests)
                outcomes[index] = await SendAsync(cancellationToken).ConfigureAwait(false);
        })).ConfigureAwait(false);
        return outcomes;
    }

    private async Task<RequestOutcome> SendAsync(CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(_body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        // The wall clock, not a stopwatch: the end is the saga's updated_at, which the orchestrator takes from the same
        // clock of the same machine.
        var sentAt = DateTimeOffset.UtcNow;
        using var response = await api.PostAsync("v1/inferences", content, cancellationToken).ConfigureAwait(false);
        var answeredAt = DateTimeOffset.UtcNow;
        if (response.StatusCode != HttpStatusCode.Accepted)
            return new RequestOutcome(null, sentAt, answeredAt, (int)response.StatusCode, null);

        Guid id;
        await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
        using (var json = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            id = json.RootElement.GetProperty("id").GetGuid();
        }

        try
        {
            var final = await watcher.WaitForFinalAsync(id).WaitAsync(requestTimeout, cancellationToken).ConfigureAwait(false);
            return new RequestOutcome(id, sentAt, answeredAt, (int)response.StatusCode, final);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Request {id} did not reach a final state within {requestTimeout.TotalSeconds:F0} s.");
        }
    }
}

/// <summary>One request as the client saw it.</summary>
/// <param name="Id">The request's id; null when it was refused.</param>
/// <param name="SentAt">When the POST was sent.</param>
/// <param name="AnsweredAt">When its answer arrived.</param>
/// <param name="HttpStatus">The POST's status: 202 when accepted.</param>
/// <param name="Final">How it ended; null when it was refused.</param>
internal sealed record RequestOutcome(Guid? Id, DateTimeOffset SentAt, DateTimeOffset AnsweredAt, int HttpStatus, FinalState? Final)
{
    public bool Completed => Final?.State == "Completed";

    /// <summary>What went wrong, as a short code; null when it completed.</summary>
    public string? Failure => Final switch
    {
        null => $"http_{HttpStatus}",
        { State: "Completed" } => null,
        { ErrorCode: { } code } => $"{Final.State.ToLowerInvariant()}_{code}",
        _ => Final.State.ToLowerInvariant(),
    };

    public double SubmitToFinalMilliseconds => Final is null ? double.NaN : (Final.UpdatedAt - SentAt).TotalMilliseconds;

    public double PostMilliseconds => (AnsweredAt - SentAt).TotalMilliseconds;
}
