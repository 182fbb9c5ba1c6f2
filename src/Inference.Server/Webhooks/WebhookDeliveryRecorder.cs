using System.Text.Json;
using Inference.Orchestration;
using Inference.Server.Api;
using Inference.Server.Persistence.Sagas;
using Inference.Server.Results;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace Inference.Server.Webhooks;

/// <summary>
/// Turns a request's state changes into webhook deliveries, in the transaction of the transition itself: the saga
/// repository shows it each row before the save (<see cref="ISagaSaveObserver{TSaga}"/>), and what it adds commits with
/// the row or not at all. So an event is neither lost (a crash after the commit finds the delivery stored) nor
/// invented (a transition rolled back takes its delivery with it).
/// </summary>
/// <remarks>
/// A request without a webhook costs a null check. The body is rendered now, as the request is at the transition, and
/// stored with the delivery: every attempt sends the same bytes, and a delivery outlives the request's row.
/// </remarks>
internal sealed class WebhookDeliveryRecorder : ISagaSaveObserver<InferenceState>
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public async ValueTask SavingAsync(DbContext db, EntityEntry<InferenceState> entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(entry);
        var saga = entry.Entity;
        if (saga.Webhook is null)
            return;

        var before = entry.State == EntityState.Added ? null : entry.Property(x => x.CurrentState).OriginalValue;
        if (before == saga.CurrentState || EventFor(saga) is not { } type)
            return;

        OutputResponse? output = null;
        if (type == WebhookEventTypes.Completed)
        {
            output = ResultText.Response(await db.Set<InferenceResult>().AsNoTracking()
                .SingleOrDefaultAsync(x => x.InferenceId == saga.CorrelationId, cancellationToken).ConfigureAwait(false));
        }

        var uri = new Uri(saga.Webhook);
        // The time as the store will keep it (PostgreSQL: microseconds), so that the data is what a later GET shows.
        var updatedAt = db.Database.IsNpgsql()
            ? saga.UpdatedAt.AddTicks(-(saga.UpdatedAt.UtcTicks % 10))
            : saga.UpdatedAt;
        var data = InferenceView.WithOutput(InferenceView.Item(saga), output) with { UpdatedAt = updatedAt };
        var payload = JsonSerializer.Serialize(new WebhookEvent(type, updatedAt, data), Json);
        db.Set<WebhookDelivery>().Add(new WebhookDelivery
        {
            Id = NewId.NextGuid(),
            InferenceId = saga.CorrelationId,
            TenantId = saga.TenantId,
            EventType = type,
            Url = saga.Webhook,
            Destination = Destination(uri),
            Payload = payload,
            Status = WebhookDeliveryStatus.Pending,
            NextAttemptAt = saga.UpdatedAt,
            CreatedAt = saga.UpdatedAt,
        });
    }

    /// <summary>The event the request's new state is, when its filter selects it.</summary>
    private static string? EventFor(InferenceState saga) => saga.CurrentState switch
    {
        InferenceStates.Inferring when WebhookEventTypes.Includes(saga.WebhookEvents, WebhookEventTypes.StartedFilter) => WebhookEventTypes.Started,
        InferenceStates.Completed or InferenceStates.Failed or InferenceStates.Canceled
            when WebhookEventTypes.Includes(saga.WebhookEvents, WebhookEventTypes.CompletedFilter) => saga.CurrentState switch
            {
                InferenceStates.Completed => WebhookEventTypes.Completed,
                InferenceStates.Failed => WebhookEventTypes.Failed,
                _ => WebhookEventTypes.Canceled,
            },
        _ => null,
    };

    /// <summary>Host and port: what the per-destination bound counts by.</summary>
    internal static string Destination(Uri uri) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{uri.IdnHost.ToLowerInvariant()}:{uri.Port}");
}

/// <summary>A webhook's body: <c>{"type", "timestamp", "data"}</c>, <c>data</c> being the request as <c>GET</c> shows it.</summary>
internal sealed record WebhookEvent(string Type, DateTimeOffset Timestamp, InferenceResponse Data);
