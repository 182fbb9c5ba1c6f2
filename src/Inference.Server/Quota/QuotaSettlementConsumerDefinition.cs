using Inference.Orchestration.Protocol;
using Inference.Server.Resilience;
using MassTransit;

namespace Inference.Server.Quota;

/// <summary>
/// Settlements and releases have nobody waiting and must not be lost: one that gave up would leave its tokens counted
/// until their day ends. They ride out a Redis restart or failover of several minutes, on a queue of their own so
/// that reservations keep their slots meanwhile. They use Redis only, not the database.
/// </summary>
public sealed class QuotaSettlementConsumerDefinition : ConsumerDefinition<QuotaSettlementConsumer>
{
    public QuotaSettlementConsumerDefinition() => EndpointName = ProtocolEndpoints.QuotaSettlements;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<QuotaSettlementConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseRetriesThroughOutages([50, 200, 1000]);
}
