using Inference.Contracts;
using MassTransit;

namespace Inference.Server.Quota;

/// <summary>
/// Reservations have a queue of their own, so that settlements retrying through a Redis outage never hold the slots
/// a reservation needs. Retry wraps the outbox: a failed attempt's decision is never published.
/// </summary>
public sealed class QuotaReservationConsumerDefinition : ConsumerDefinition<QuotaReservationConsumer>
{
    /// <summary>
    /// Retry intervals, in milliseconds: 3.6 s of waits, plus up to the Redis client's timeout per attempt; then the
    /// fault reaches the saga, which fails the request.
    /// </summary>
    internal static readonly int[] Retries = [100, 500, 1000, 2000];

    public QuotaReservationConsumerDefinition() => EndpointName = InferenceEndpoints.Quota;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<QuotaReservationConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(Retries));
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
