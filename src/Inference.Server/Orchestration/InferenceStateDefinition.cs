using Inference.Contracts;
using MassTransit;

namespace Inference.Server.Orchestration;

/// <summary>
/// The saga's endpoint. Retry wraps the outbox, and the outbox wraps the repository's transaction: messages the
/// machine sends leave only after the saga row is committed (without it, replies raced the INSERT and sagas stuck),
/// and a retried attempt starts from a clean scope.
/// </summary>
public sealed class InferenceStateDefinition : SagaDefinition<InferenceState>
{
    public InferenceStateDefinition() => EndpointName = InferenceEndpoints.Orchestrator;

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator,
        ISagaConfigurator<InferenceState> sagaConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(retry =>
        {
            // An event for a request that does not exist will not find it on a retry: every step is sent only after
            // the saga row is committed. Fault it to the error queue at once.
            retry.Ignore<SagaException>();
            retry.Intervals(50, 200, 500, 1000, 2000);
        });
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
