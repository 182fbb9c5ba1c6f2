using Inference.Contracts;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Inference.Orchestration;

/// <summary>
/// The saga's endpoint, <see cref="InferenceEndpoints.Orchestrator"/>. The host's retry policy (see
/// <see cref="InferenceSagaEndpointOptions.ConfigureRetry"/>) wraps the in-memory outbox, and the outbox wraps the
/// repository's transaction: messages the machine sends leave only after the saga row is committed, and a retried attempt
/// starts from a clean scope.
/// </summary>
public sealed class InferenceStateDefinition : SagaDefinition<InferenceState>
{
    private readonly InferenceSagaEndpointOptions _options;

    public InferenceStateDefinition(IOptions<InferenceSagaEndpointOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        EndpointName = InferenceEndpoints.Orchestrator;
        ConcurrentMessageLimit = _options.ConcurrentMessageLimit;
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator,
        ISagaConfigurator<InferenceState> sagaConfigurator, IRegistrationContext context)
    {
        _options.ConfigureRetry?.Invoke(endpointConfigurator);
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}

/// <summary>How the host runs the saga's endpoint: how many messages at once, and how a failed one is retried.</summary>
public sealed class InferenceSagaEndpointOptions
{
    /// <summary>Messages the saga's endpoint handles at once.</summary>
    public int ConcurrentMessageLimit { get; set; } = 16;

    /// <summary>
    /// The retry policy, outermost on the endpoint. An event for a request that does not exist will not find it on a
    /// retry (every request is stored before its first step is sent), so a policy should not retry
    /// <see cref="SagaException"/>. Null: no retries (the in-memory test harness).
    /// </summary>
    public Action<IReceiveEndpointConfigurator>? ConfigureRetry { get; set; }
}
