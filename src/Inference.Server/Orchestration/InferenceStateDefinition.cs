using Inference.Contracts;
using Inference.Server.Messaging;
using Inference.Server.Resilience;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Inference.Server.Orchestration;

/// <summary>
/// The saga's endpoint. Retry wraps the outbox, and the outbox wraps the repository's transaction: messages the
/// machine sends leave only after the saga row is committed, and a retried attempt starts from a clean scope.
/// </summary>
public sealed class InferenceStateDefinition : SagaDefinition<InferenceState>
{
    public InferenceStateDefinition(IOptions<MessagingOptions> options)
    {
        EndpointName = InferenceEndpoints.Orchestrator;
        ConcurrentMessageLimit = options.Value.ConcurrentMessageLimit;
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator,
        ISagaConfigurator<InferenceState> sagaConfigurator, IRegistrationContext context)
    {
        // An event for a request that does not exist will not find it on a retry: every request is stored before its
        // first step is sent. Fault it to the error queue at once.
        endpointConfigurator.UseRetriesThroughOutages([50, 200, 500, 1000, 2000], retry => retry.Ignore<SagaException>());
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
