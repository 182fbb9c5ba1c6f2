using System.Text;
using System.Text.Json;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Resilience;

namespace Inference.Server.Api;

/// <summary>
/// A streamed completion (<c>POST /v1/completions</c> with <c>stream: true</c>), as OpenAI streams one: a
/// <c>text/event-stream</c> of <c>data: {chunk}</c> events, each chunk a completion object whose only choice holds a piece
/// of the text and no <c>finish_reason</c>, the last holding the <c>finish_reason</c>, then (with
/// <c>stream_options.include_usage</c>) a chunk with no choice and the usage, then <c>data: [DONE]</c>.
/// </summary>
/// <remarks>
/// The pieces are the worker's <see cref="Inference.Orchestration.Protocol.InferenceOutputDelta"/>s, heard through
/// <see cref="InferenceOutputHub"/> and relayed in their order. They are best effort: once one is missing (a gap in their
/// sequence) the stream relays no more of them, and at the end sends whatever part of the final text, read from the
/// store, it has not sent. So the client always gets the exact final text. An error after the headers went out (the
/// request failed, was canceled or did not end in time) is one <c>data: {"error": ...}</c> event in OpenAI's error shape,
/// and the stream ends there. While it waits the stream holds no thread, no database connection and no slot of
/// <see cref="ApiConcurrency"/>; it sends a comment line every <see cref="ApiOptions.EventHeartbeatInterval"/>. A client
/// that leaves does not cancel the request: it runs to its end and is charged for what it generated.
/// </remarks>
public sealed class CompletionStream : IResult
{
    private static readonly byte[] Heartbeat = ": keep-alive\n\n"u8.ToArray();
    private static readonly byte[] DataStart = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private readonly Request _request;
    private readonly InferenceWaiters.Waiter _waiter;
    private readonly InferenceOutputHub.Subscription _subscription;
    private readonly Services _services;

    internal CompletionStream(Request request, InferenceWaiters.Waiter waiter, InferenceOutputHub.Subscription subscription, Services services)
    {
        _request = request;
        _waiter = waiter;
        _subscription = subscription;
        _services = services;
    }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        using var waiter = _waiter;
        using var subscription = _subscription;
        var response = EventStreamResponse.Prepare(httpContext);

        using var ending = EventStreamResponse.Ending(httpContext, _services.Lifetime);
        var cancellationToken = ending.Token;
        try
        {
            await response.StartAsync(cancellationToken).ConfigureAwait(false);
            var sent = await RelayAsync(response, cancellationToken).ConfigureAwait(false);
            await FinishAsync(httpContext, sent, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client left, or the process stops: the request goes on, and ends on its own.
        }
    }

    /// <summary>Relays the pieces until the request ends or its time is up; the text sent.</summary>
    private async Task<StringBuilder> RelayAsync(HttpResponse response, CancellationToken cancellationToken)
    {
        var sent = new StringBuilder();
        var order = new PieceSequence();
        var until = _services.Clock.GetTimestamp();
        var reader = _subscription.Reader;
        Task<bool>? arrival = null; // Kept across heartbeats: the channel has a single reader.
        while (true)
        {
            while (reader.TryRead(out var piece))
            {
                // After a gap none is relayed: the rest comes from the final text.
                if (order.Accept(piece) is not { } text)
                    continue;
                sent.Append(text);
                await WriteAsync(response, Chunk(text, null), cancellationToken).ConfigureAwait(false);
            }

            if (reader.Completion.IsCompleted)
                return sent;
            var left = _request.Timeout - _services.Clock.GetElapsedTime(until);
            if (left <= TimeSpan.Zero)
                return sent;

            var wait = left < _services.HeartbeatInterval ? left : _services.HeartbeatInterval;
            try
            {
                arrival ??= reader.WaitToReadAsync(cancellationToken).AsTask();
                await arrival.WaitAsync(wait, _services.Clock, cancellationToken).ConfigureAwait(false);
                arrival = null;
            }
            catch (TimeoutException)
            {
                await response.Body.WriteAsync(Heartbeat, cancellationToken).ConfigureAwait(false);
                await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The end: the rest of the text, the finish reason, the usage and <c>[DONE]</c>; or the error.</summary>
    private async Task FinishAsync(HttpContext httpContext, StringBuilder sent, CancellationToken cancellationToken)
    {
        var response = httpContext.Response;
        var ended = await TryReadEndAsync(cancellationToken).ConfigureAwait(false);
        if (ended is null || !InferenceStates.IsFinal(ended.State))
        {
            // The headers are out: no Retry-After, as the 503 before the stream would have.
            var detail = ended is null
                ? $"Request {_request.InferenceId} could not be read at its end; read it with GET /v1/inferences/{_request.InferenceId}."
                : $"Request {_request.InferenceId} has not ended in time; it is canceled at its time limit.";
            await WriteAsync(response, new OpenAiErrorResponse(new OpenAiError(detail, OpenAiErrors.ServerError, null, "unavailable")),
                cancellationToken).ConfigureAwait(false);
            return;
        }

        if (ended.Problem(httpContext, _request.InferenceId) is { } problem)
        {
            await WriteAsync(response, OpenAiErrors.From(problem.ProblemDetails).Value, cancellationToken).ConfigureAwait(false);
            return;
        }

        var text = ended.Output?.Text ?? "";
        var already = sent.ToString();
        // The pieces add up to a prefix of the final text; should they not, the client has the pieces and the end of the text.
        var rest = text.StartsWith(already, StringComparison.Ordinal) ? text[already.Length..] : text[Math.Min(already.Length, text.Length)..];
        if (rest.Length > 0)
            await WriteAsync(response, Chunk(rest, null), cancellationToken).ConfigureAwait(false);
        await WriteAsync(response, Chunk("", ended.Output?.FinishReason ?? "stop"), cancellationToken).ConfigureAwait(false);
        if (_request.IncludeUsage)
        {
            await WriteAsync(response, new CompletionResponse(CompletionsApi.Id(_request.InferenceId), CompletionsApi.TextCompletion,
                _request.Created, _request.Model, [], ended.Usage), cancellationToken).ConfigureAwait(false);
        }

        await response.Body.WriteAsync(Done, cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The request as stored, read in a slot; null when it cannot be read now (no slot, the database away).</summary>
    private async Task<CompletionsApi.Ended?> TryReadEndAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var slot = await _services.Concurrency.AcquireAsync(cancellationToken).ConfigureAwait(false);
            return slot.IsAcquired
                ? await CompletionsApi.ReadEndAsync(_services.Db, _request.InferenceId, cancellationToken).ConfigureAwait(false)
                : null;
        }
        catch (Exception exception) when (TransientFailures.Is(exception))
        {
            return null;
        }
    }

    private CompletionResponse Chunk(string text, string? finishReason) => new(
        CompletionsApi.Id(_request.InferenceId), CompletionsApi.TextCompletion, _request.Created, _request.Model,
        [new CompletionChoiceResponse(text, 0, null, finishReason)], null);

    private async Task WriteAsync<T>(HttpResponse response, T data, CancellationToken cancellationToken)
    {
        // JSON escapes every line break inside strings, so the data is one line, as an event's data field must be.
        await response.Body.WriteAsync(DataStart, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(data, _services.Json), cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(EventEnd, cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>What the stream relays: the request, the model, its time of creation, whether the usage is sent, and how
    /// long to wait for its end.</summary>
    internal sealed record Request(Guid InferenceId, string Model, long Created, bool IncludeUsage, TimeSpan Timeout);

    /// <summary>What a stream reads with and writes with, for its whole life.</summary>
    internal sealed record Services(
        InferenceDbContext Db,
        ApiConcurrency Concurrency,
        TimeProvider Clock,
        IHostApplicationLifetime Lifetime,
        TimeSpan HeartbeatInterval,
        JsonSerializerOptions Json);
}
