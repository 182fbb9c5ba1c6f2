using Inference.Orchestration.Protocol;
using Inference.Server.Messaging;
using Inference.Server.Resilience;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Inference.Server.Results;

public sealed class StoreResultConsumerDefinition : ConsumerDefinition<StoreResultConsumer>
{
    public StoreResultConsumerDefinition(IOptions<MessagingOptions> options)
    {
        EndpointName = ProtocolEndpoints.Results;
        ConcurrentMessageLimit = options.Value.ConcurrentMessageLimit;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<StoreResultConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseRetriesThroughOutages([100, 500, 2000, 5000]);
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
