namespace Inference.Server.Webhooks;

/// <summary>A delivery's destination is not allowed (see <see cref="WebhookAddressGuard"/>); the delivery is not retried.</summary>
public sealed class WebhookDestinationRefusedException : Exception
{
    public WebhookDestinationRefusedException()
    {
    }

    public WebhookDestinationRefusedException(string message)
        : base(message)
    {
    }

    public WebhookDestinationRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
