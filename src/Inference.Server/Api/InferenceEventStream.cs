using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Inference.Contracts;
using Inference.Server.Persistence;
using Inference.Server.Resilience;
using Inference.Server.Tenants;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;

namespace Inference.Server.Api;

/// <summary>
/// One request's event stream (<c>text/event-stream</c>): an event <c>status</c> for every state it is seen in, from
/// the current one on, whose data is the request as <c>GET /v1/inferences/{id}</c> shows it then (with its output in the
/// final event), and a comment line every <see cref="ApiOptions.EventHeartbeatInterval"/> while nothing changes. It
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

    private const string ContentType = "text/event-stream";

    private static readonly byte[] Heartbeat = ": heartbeat\n\n"u8.ToArray();

    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    private readonly InferenceEventHub.Subscription _subscription;
    private readonly InferenceResponse _first;
    private readonly long _lastEventId;
    private readonly Services _services;

    internal InferenceEventStream(InferenceEventHub.Subscription subscription, InferenceResponse first, long lastEventId, Services services)
    {
        _subscription = subscription;
        _first = first;
        _lastEventId = lastEventId;
        _services = services;
    }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        using var subscription = _subscription;
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ContentType;
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // A proxy such as nginx would otherwise hold the events back.
        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        using var ending = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted, _services.Lifetime.ApplicationStopping);
        var cancellationToken = ending.Token;
        try
        {
            await response.StartAsync(cancellationToken).ConfigureAwait(false);
            var sent = _lastEventId;
            var current = _first;
            while (true)
            {
                subscription.SeenStatus = current.Status;
                var eventId = current.History.Count - 1;
                if (eventId > sent)
                {
                    await WriteAsync(response, eventId, current, cancellationToken).ConfigureAwait(false);
                    sent = eventId;
                }

                if (IsFinal(current.Status))
                    return;

                InferenceResponse? read;
                do
                {
                    while (!await subscription.WaitAsync(_services.HeartbeatInterval, _services.Clock, cancellationToken).ConfigureAwait(false))
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

    /// <summary>What a stream reads with and writes with, for its whole life.</summary>
    internal sealed record Services(
        InferenceDbContext Db,
        ApiConcurrency Concurrency,
        TimeProvider Clock,
        IHostApplicationLifetime Lifetime,
        TimeSpan HeartbeatInterval,
        JsonSerializerOptions Json);
}
