using Inference.Orchestration.Protocol;
using Inference.Server.Messaging;
using Inference.Server.Resilience;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Inference.Server.Quota;

/// <summary>
/// Reservations have a queue of their own, so that settlements retrying through a Redis outage never hold the slots
/// a reservation needs. Retry wraps the outbox: a failed attempt's decision is never published. A reservation waits out
/// an outage of Redis or of the database (tenant limits) like every other step: its request stays Submitted meanwhile.
/// </summary>
public sealed class QuotaReservationConsumerDefinition : ConsumerDefinition<QuotaReservationConsumer>
{
    public QuotaReservationConsumerDefinition(IOptions<MessagingOptions> options)
    {
        EndpointName = ProtocolEndpoints.Quota;
        ConcurrentMessageLimit = options.Value.ConcurrentMessageLimit;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<QuotaReservationConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseRetriesThroughOutages([100, 500, 1000, 2000]);
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
