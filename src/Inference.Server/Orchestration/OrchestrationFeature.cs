using Inference.Orchestration;
using Inference.Server.Messaging;
using Inference.Server.Persistence;
using Inference.Server.Persistence.Sagas;
using Inference.Server.Resilience;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Inference.Server.Orchestration;

/// <summary>The saga on its durable store, and the orchestrator's background jobs around it.</summary>
public static class OrchestrationFeature
{
    /// <summary>
    /// The saga's options (the API reads the request deadline too) and, for the orchestrator role
    /// (<paramref name="jobs"/>), the deadline sweeper and the retention job.
    /// </summary>
    public static IServiceCollection AddOrchestration(this IServiceCollection services, bool jobs)
    {
        services.AddOptions<OrchestrationOptions>().BindConfiguration(OrchestrationOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<InferenceSagaEndpointOptions>().Configure<IOptions<MessagingOptions>>((endpoint, messaging) =>
        {
            endpoint.ConcurrentMessageLimit = messaging.Value.ConcurrentMessageLimit;
            endpoint.ConfigureRetry = ConfigureRetry;
        });

        services.AddScoped<ISubmissionGate, PlatformSubmissionGate>();
        services.TryAddSingleton<IServedModels, CatalogModels>();
        services.TryAddScoped<Tenants.TenantPlans>();

        if (jobs)
        {
            services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.Section)
                .ValidateDataAnnotations().ValidateOnStart();
            services.AddHostedService<DeadlineSweeper>();
            services.AddHostedService<RetentionJob>();
        }

        return services;
    }

    /// <summary>The saga, on the database of <see cref="InferenceDbContext"/>.</summary>
    public static IBusRegistrationConfigurator AddOrchestration(this IBusRegistrationConfigurator bus)
    {
        bus.AddSagaStateMachine<InferenceStateMachine, InferenceState, InferenceStateDefinition>()
            .EntityFrameworkRepository<InferenceState, InferenceDbContext>();
        return bus;
    }

    /// <summary>
    /// Retries through outages of the database or the broker. An event for a request that does not exist will not find
    /// it on a retry: every request is stored before its first step is sent. It goes to the error queue at once.
    /// </summary>
    public static void ConfigureRetry(IReceiveEndpointConfigurator endpoint) =>
        endpoint.UseRetriesThroughOutages([50, 200, 500, 1000, 2000], retry => retry.Ignore<SagaException>());
}
