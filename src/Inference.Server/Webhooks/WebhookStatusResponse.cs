namespace Inference.Server.Webhooks;

/// <summary>
/// <c>webhook</c> in <c>GET /v1/inferences/{id}</c>: the request's latest webhook delivery. <c>status</c> is
/// <c>pending</c>, <c>delivered</c> or <c>failed</c>, or <c>waiting</c> while no event the filter selects has happened.
/// </summary>
public sealed record WebhookStatusResponse(
    string Status,
    int Attempts,
    int? LastStatusCode,
    string? LastError,
    DateTimeOffset? NextAttemptAt)
{
    public const string Waiting = "waiting";

    public static WebhookStatusResponse From(WebhookDelivery? delivery) => delivery is null
        ? new(Waiting, 0, null, null, null)
        : new(delivery.Status, delivery.Attempts, delivery.LastStatusCode, delivery.LastError,
            delivery.Status == WebhookDeliveryStatus.Pending ? delivery.NextAttemptAt : null);
}
