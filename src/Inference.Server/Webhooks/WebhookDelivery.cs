namespace Inference.Server.Webhooks;

/// <summary>
/// One event to send to one webhook, as stored in <c>webhook_deliveries</c>: written in the transaction of the saga
/// transition that caused it, then sent, retried and finally marked by <see cref="WebhookDispatcher"/>.
/// </summary>
public sealed class WebhookDelivery
{
    /// <summary>Also the <c>webhook-id</c> header: the same for every attempt of this event, so that a receiver can
    /// drop a repeat.</summary>
    public Guid Id { get; set; }

    public Guid InferenceId { get; set; }

    /// <summary>Whose secret signs the delivery.</summary>
    public required string TenantId { get; set; }

    /// <summary>One of <see cref="WebhookEventTypes"/>: <c>inference.completed</c>, ...</summary>
    public required string EventType { get; set; }

    public required string Url { get; set; }

    /// <summary>The destination's host and port (<c>example.com:443</c>): the unit of the per-host concurrency bound.</summary>
    public required string Destination { get; set; }

    /// <summary>The body, exactly as signed and sent: <c>{"type", "timestamp", "data"}</c>.</summary>
    public required string Payload { get; set; }

    /// <summary><see cref="WebhookDeliveryStatus"/>.</summary>
    public required string Status { get; set; }

    /// <summary>Attempts made since the delivery was created or last re-sent by an operator.</summary>
    public int Attempts { get; set; }

    /// <summary>When the next attempt is due, while <see cref="Status"/> is pending.</summary>
    public DateTimeOffset NextAttemptAt { get; set; }

    /// <summary>Until when a dispatcher holds the delivery; another takes it only after. Null when nobody holds it.</summary>
    public DateTimeOffset? LeaseUntil { get; set; }

    public int? LastStatusCode { get; set; }

    public string? LastError { get; set; }

    public DateTimeOffset? LastAttemptAt { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The longest <see cref="LastError"/> kept.</summary>
    public const int MaxErrorLength = 1024;
}
