using Inference.Contracts;
using MassTransit;

namespace Inference.Server.Quota;

public sealed class QuotaConsumerDefinition : ConsumerDefinition<QuotaConsumer>
{
    public QuotaConsumerDefinition() => EndpointName = InferenceEndpoints.Quota;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<QuotaConsumer> consumerConfigurator, IRegistrationContext context)
    {
        // Redis blips are retried; after that the fault reaches the saga, which fails the request and releases.
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(100, 500, 1000, 2000));
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
