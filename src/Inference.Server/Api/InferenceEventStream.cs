using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Inference.Contracts;
using Inference.Server.Persistence;
using Inference.Server.Resilience;
using Inference.Server.Tenants;
using Microsoft.AspNetCore.Http.Metadata;

namespace Inference.Server.Api;

/// <summary>
/// One request's event stream (<c>text/event-stream</c>): an event <c>status</c> for every state it is seen in, from
/// the current one on, whose data is the request as <c>GET /v1/inferences/{id}</c> shows it then (with its output in the
/// final event), an event <c>output</c>, <c>{"text": "..."}</c> without an id, for each piece of a streamed generation's
/// text as the worker publishes it (best effort: after a lost piece none; the final event has the whole text), and a comment line every <see cref="ApiOptions.EventHeartbeatInterval"/> while nothing changes. It
/// ends after the final state, when the client leaves, or when the process stops (the client resumes elsewhere with
/// <c>Last-Event-ID</c>).
/// </summary>
/// <remarks>
/// An event's id is the index, in the request's stored history, of the state change its data shows. The history only
/// grows and is the same in every process, so the id says exactly what a client has seen: after <c>Last-Event-ID: n</c>
/// a stream sends only a state past the n-th change. Changes that come faster than they are observed (several between
/// two wake-ups) are shown by one event, of the latest, whose <c>history</c> lists them all.
/// While it waits a stream holds no thread, no database connection and no slot of <see cref="ApiConcurrency"/>; it is
/// woken by <see cref="InferenceEventHub"/> and takes a slot only for each read.
/// </remarks>
public sealed class InferenceEventStream : IResult, IEndpointMetadataProvider
{
    /// <summary>The event name of a state change.</summary>
    public const string StatusEvent = "status";

    private const string ContentType = EventStreamResponse.ContentType;

    private static readonly byte[] Heartbeat = ": heartbeat\n\n"u8.ToArray();

    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    private static readonly byte[] OutputHead = "event: output\ndata: "u8.ToArray();

    /// <summary>The event name of a piece of a streamed generation's text.</summary>
    public const string OutputEvent = "output";

    private readonly InferenceEventHub.Subscription _subscription;
    private readonly InferenceOutputHub.Subscription? _output;
    private readonly InferenceResponse _first;
    private readonly long _lastEventId;
    private readonly Services _services;

    internal InferenceEventStream(InferenceEventHub.Subscription subscription, InferenceOutputHub.Subscription? output,
        InferenceResponse first, long lastEventId, Services services)
    {
        _subscription = subscription;
        _output = output;
        _first = first;
        _lastEventId = lastEventId;
        _services = services;
    }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        using var subscription = _subscription;
        using var output = _output;
        var response = EventStreamResponse.Prepare(httpContext);

        using var ending = EventStreamResponse.Ending(httpContext, _services.Lifetime);
        var cancellationToken = ending.Token;
        try
        {
            await response.StartAsync(cancellationToken).ConfigureAwait(false);
            var sent = _lastEventId;
            var current = _first;
            var pieces = output is null ? null : new Pieces(output, new PieceSequence());
            while (true)
            {
                subscription.SeenStatus = current.Status;
                var eventId = current.History.Count - 1;
                if (eventId > sent)
                {
                    // The pieces heard so far come before the status they led to.
                    await RelayAsync(response, pieces, cancellationToken).ConfigureAwait(false);
                    await WriteAsync(response, eventId, current, cancellationToken).ConfigureAwait(false);
                    sent = eventId;
                }

                if (IsFinal(current.Status))
                    return;

                InferenceResponse? read;
                do
                {
                    while (!await WaitAsync(response, subscription, pieces, cancellationToken).ConfigureAwait(false))
                    {
                        await response.Body.WriteAsync(Heartbeat, cancellationToken).ConfigureAwait(false);
                        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                    }

                    read = await TryReadAsync(httpContext, cancellationToken).ConfigureAwait(false);
                }
                while (read is null && subscription.SeenStatus is not null);

                if (read is null)
                    return; // No longer stored (retention removed it).
                current = read;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client left, or the process stops: nothing more to send.
        }
    }

    /// <summary>
    /// Waits for a wake-up of the request (true) or the heartbeat interval (false), relaying the pieces of its text that
    /// come meanwhile as <c>output</c> events.
    /// </summary>
    private async Task<bool> WaitAsync(HttpResponse response, InferenceEventHub.Subscription subscription, Pieces? pieces,
        CancellationToken cancellationToken)
    {
        // One wait of the hub for the whole interval: a wake-up it takes is never dropped.
        var woken = subscription.WaitAsync(_services.HeartbeatInterval, _services.Clock, cancellationToken);
        while (pieces is { Done: false } && !woken.IsCompleted)
        {
            pieces.Arrival ??= pieces.Subscription.Reader.WaitToReadAsync(cancellationToken).AsTask();
            await Task.WhenAny(woken, pieces.Arrival).ConfigureAwait(false);
            if (!pieces.Arrival.IsCompleted)
                break;
            pieces.Arrival = null;
            await RelayAsync(response, pieces, cancellationToken).ConfigureAwait(false);
        }

        return await woken.ConfigureAwait(false);
    }

    /// <summary>Writes the pieces heard and not yet relayed, in order, each as an <c>output</c> event without an id.</summary>
    private async Task RelayAsync(HttpResponse response, Pieces? pieces, CancellationToken cancellationToken)
    {
        if (pieces is null || pieces.Done)
            return;
        while (pieces.Subscription.Reader.TryRead(out var piece))
        {
            if (pieces.Order.Accept(piece) is not { } text)
                continue;
            var data = JsonSerializer.SerializeToUtf8Bytes(new OutputPieceResponse(text), _services.Json);
            await response.Body.WriteAsync(OutputHead, cancellationToken).ConfigureAwait(false);
            await response.Body.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            await response.Body.WriteAsync(EventEnd, cancellationToken).ConfigureAwait(false);
            await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        // Ended, or a piece was lost: the final status event has the whole text.
        pieces.Done = pieces.Subscription.Reader.Completion.IsCompleted || !pieces.Order.IsRelaying;
    }

    /// <summary>
    /// The request now, read in a slot; null when it could not be read now (no slot, the database away), which the next
    /// wake-up tries again (the poller wakes a stream whose request is in another state than it saw), or when it is no
    /// longer stored, which clears <see cref="InferenceEventHub.Subscription.SeenStatus"/>.
    /// </summary>
    private async Task<InferenceResponse?> TryReadAsync(HttpContext httpContext, CancellationToken cancellationToken)
    {
        try
        {
            using var slot = await _services.Concurrency.AcquireAsync(cancellationToken).ConfigureAwait(false);
            if (!slot.IsAcquired)
                return null;
            var read = await InferencesApi.ReadAsync(_services.Db, _subscription.InferenceId, httpContext.User.TenantId(), cancellationToken)
                .ConfigureAwait(false);
            if (read is null)
                _subscription.SeenStatus = null;
            return read;
        }
        catch (Exception exception) when (TransientFailures.Is(exception))
        {
            return null;
        }
    }

    private async Task WriteAsync(HttpResponse response, long eventId, InferenceResponse inference, CancellationToken cancellationToken)
    {
        // JSON escapes every line break inside strings, so the data is one line, as an event's data field must be.
        var data = JsonSerializer.SerializeToUtf8Bytes(inference, _services.Json);
        var head = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"id: {eventId}\nevent: {StatusEvent}\ndata: "));
        await response.Body.WriteAsync(head, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(EventEnd, cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static bool IsFinal(string status) =>
        status is InferenceStatusNames.Completed or InferenceStatusNames.Failed or InferenceStatusNames.Canceled;

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(string), [ContentType]));
    }

    /// <summary>A streamed generation's pieces as this stream relays them.</summary>
    private sealed class Pieces(InferenceOutputHub.Subscription subscription, PieceSequence order)
    {
        public InferenceOutputHub.Subscription Subscription { get; } = subscription;

        public PieceSequence Order { get; } = order;

        /// <summary>A wait for the next piece, kept across waits (the channel has one reader).</summary>
        public Task<bool>? Arrival { get; set; }

        /// <summary>No more pieces are relayed: the request ended, or one was lost.</summary>
        public bool Done { get; set; }
    }

    /// <summary>What a stream reads with and writes with, for its whole life.</summary>
    internal sealed record Services(
        InferenceDbContext Db,
        ApiConcurrency Concurrency,
        TimeProvider Clock,
        IHostApplicationLifetime Lifetime,
        TimeSpan HeartbeatInterval,
        JsonSerializerOptions Json);
}

/// <summary>The data of an <c>output</c> event: a piece of the generated text, in order.</summary>
public sealed record OutputPieceResponse(string Text);
