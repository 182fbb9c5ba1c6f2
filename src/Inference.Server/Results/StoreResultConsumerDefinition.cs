using Inference.Contracts;
using MassTransit;

namespace Inference.Server.Results;

public sealed class StoreResultConsumerDefinition : ConsumerDefinition<StoreResultConsumer>
{
    public StoreResultConsumerDefinition() => EndpointName = InferenceEndpoints.Results;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<StoreResultConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(100, 500, 2000, 5000));
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
