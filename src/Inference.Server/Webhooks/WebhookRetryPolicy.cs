namespace Inference.Server.Webhooks;

/// <summary>
/// What follows an attempt. A <c>2xx</c> delivers. <c>410 Gone</c> (the receiver says it is gone for good) and a
/// destination that is not allowed give up at once. Everything else is retried on the schedule: <c>429</c>,
/// <c>5xx</c>, connection errors and timeouts, and also the other <c>4xx</c> and <c>3xx</c>, which usually mean a
/// receiver misconfigured for a while (a wrong secret, a route not deployed yet) rather than a message it will never
/// take. A <c>Retry-After</c> longer than the schedule's wait is honoured, up to <see cref="WebhookOptions.MaxRetryAfter"/>.
/// </summary>
public static class WebhookRetryPolicy
{
    /// <summary>The delivery's status and next due time after its <paramref name="attempts"/>-th attempt.</summary>
    public static (string Status, DateTimeOffset NextAttemptAt) Next(WebhookAttempt attempt, int attempts, DateTimeOffset now,
        WebhookOptions options)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(options);
        if (attempt.Delivered)
            return (WebhookDeliveryStatus.Delivered, now);
        if (attempt.Refused || attempt.StatusCode == 410 || attempts > options.Schedule.Count)
            return (WebhookDeliveryStatus.Failed, now);

        var wait = options.Schedule[attempts - 1];
        if (attempt.RetryAfter is { } retryAfter && retryAfter > wait)
            wait = retryAfter < options.MaxRetryAfter ? retryAfter : options.MaxRetryAfter;
        return (WebhookDeliveryStatus.Pending, now + wait);
    }
}
