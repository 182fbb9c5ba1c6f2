using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Server.Worker;

/// <summary>
/// The worker endpoint. A model run already uses every core (ONNX Runtime's intra-op threads), so one run at a time
/// per process; KEDA scales processes. Prefetch keeps the next request in memory while the current one runs.
/// </summary>
public sealed class RunInferenceConsumerDefinition : ConsumerDefinition<RunInferenceConsumer>
{
    public RunInferenceConsumerDefinition()
    {
        EndpointName = ProtocolEndpoints.Worker;
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<RunInferenceConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = 4;
        endpointConfigurator.UseMessageRetry(retry =>
        {
            retry.Ignore<UnknownModelException>();
            retry.Ignore<ArgumentException>();
            retry.Intervals(200, 1000, 3000);
        });
    }
}
