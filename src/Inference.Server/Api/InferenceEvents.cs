using System.Globalization;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>
/// <c>GET /v1/inferences/{id}/events</c>: the request's state changes as server-sent events, from its current state on,
/// until its final state. The checks (the id, <c>Last-Event-ID</c>, room for another stream, the first read) are answered
/// as problems before the stream starts; the stream itself is <see cref="InferenceEventStream"/>.
/// </summary>
public static class InferenceEvents
{
    /// <summary>The header a client sends to resume after the last event it saw (the SSE specification's name).</summary>
    public const string LastEventIdName = "Last-Event-ID";

    internal static async Task<Results<InferenceEventStream, ProblemHttpResult>> StreamAsync(
        string id,
        HttpContext http,
        InferenceEventHub hub,
        InferenceOutputHub outputs,
        ApiConcurrency concurrency,
        InferenceDbContext db,
        TimeProvider clock,
        IHostApplicationLifetime lifetime,
        IOptions<ApiOptions> options,
        IOptions<JsonOptions> json,
        CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var inferenceId))
            return Problems.InferenceNotFound(id);
        if (!TryReadLastEventId(http.Request, out var lastEventId))
        {
            return Problems.Validation(ErrorCodes.LastEventIdInvalid,
                $"The {LastEventIdName} header must be the id of an event of this stream: a whole number from 0.",
                [new FieldError(LastEventIdName, ErrorCodes.LastEventIdInvalid, "Not a whole number from 0.")]);
        }

        // Registered before the first read, so that no change can come between the read and the registration unheard.
        var subscription = hub.TryWatch(inferenceId);
        if (subscription is null)
        {
            return Problems.Unavailable(http,
                "The server holds as many event streams as it may; read the inference with GET, or try again later.");
        }

        // A streamed generation's pieces, likewise heard from before the read: the first one heard is the first published.
        var output = outputs.Watch(inferenceId);

        InferenceResponse? current;
        try
        {
            // A slot for the read only: the stream holds none while it waits.
            using var slot = await concurrency.AcquireAsync(cancellationToken).ConfigureAwait(false);
            if (!slot.IsAcquired)
            {
                subscription.Dispose();
                output.Dispose();
                return Problems.Unavailable(http, ApiConcurrency.RefusedDetail);
            }

            current = await InferencesApi.ReadAsync(db, inferenceId, http.User.TenantId(), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            subscription.Dispose();
            output.Dispose();
            throw;
        }

        if (current is null)
        {
            // Another tenant's request is indistinguishable from one that does not exist.
            subscription.Dispose();
            output.Dispose();
            return Problems.InferenceNotFound(id);
        }

        return new InferenceEventStream(subscription, output, current, lastEventId,
            new InferenceEventStream.Services(db, concurrency, clock, lifetime, options.Value.EventHeartbeatInterval, json.Value.SerializerOptions));
    }

    /// <summary>The last event id the client saw: -1 when it sent none; false when it sent one that is no id of ours.</summary>
    internal static bool TryReadLastEventId(HttpRequest request, out long lastEventId)
    {
        lastEventId = -1;
        var values = request.Headers[LastEventIdName];
        if (values.Count == 0)
            return true;

        // EventSource sends back the id it last received; an empty one (a stream that sent no id) means none.
        var value = values.Count == 1 ? values[0]?.Trim() : null;
        if (value is "")
            return true;
        return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out lastEventId);
    }
}
