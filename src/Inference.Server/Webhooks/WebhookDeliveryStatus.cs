namespace Inference.Server.Webhooks;

/// <summary>Where a <see cref="WebhookDelivery"/> stands; also its <c>webhook.status</c> in the API.</summary>
public static class WebhookDeliveryStatus
{
    /// <summary>Waiting for its first attempt or for a retry.</summary>
    public const string Pending = "pending";

    /// <summary>The receiver answered 2xx.</summary>
    public const string Delivered = "delivered";

    /// <summary>Given up: the schedule ran out, the receiver answered 410, or the destination is not allowed. An operator
    /// may re-send it.</summary>
    public const string Failed = "failed";

    public static IReadOnlyList<string> All { get; } = [Pending, Delivered, Failed];
}
