using Inference.Orchestration;
using Inference.Orchestration.Protocol;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Inference.Testing;

/// <summary>Adds the inference platform to a test's service collection, and gets its harness back.</summary>
public static class InferenceTestHarnessExtensions
{
    /// <summary>
    /// Adds MassTransit's test harness (<c>AddMassTransitTestHarness</c>: in-memory transport) running the platform's real
    /// <see cref="InferenceStateMachine"/> on an in-memory saga repository, with scripted stand-ins for the platform's own
    /// roles on their queues: the submission gate, the quota ledger, the model worker (on each scripted model's queue) and the result store. The
    /// platform's <see cref="TimeProvider"/> is replaced by an <see cref="InferenceTestClock"/>.
    /// </summary>
    /// <param name="services">The test's services; MassTransit must not be added to them otherwise.</param>
    /// <param name="configure">Tenants, models, the deadline, the test's own bus registrations.</param>
    public static IServiceCollection AddInferenceTestHarness(this IServiceCollection services,
        Action<InferenceTestHarnessOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new InferenceTestHarnessOptions();
        configure?.Invoke(options);

        var clock = new InferenceTestClock(options.StartTime ?? DateTimeOffset.UtcNow);
        services.AddSingleton(clock);
        services.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock));
        services.AddSingleton(options.Script);
        services.AddSingleton<ScriptedQuotaLedger>();
        services.AddSingleton<InMemoryResultStore>();
        services.AddSingleton<ScriptedRuns>();
        services.AddBusObserver<ScriptedRunsStopOnBusStop>();
        services.AddSingleton<ScriptedWorkerEndpoints>();
        services.AddBusObserver(provider => provider.GetRequiredService<ScriptedWorkerEndpoints>());
        services.Replace(ServiceDescriptor.Scoped<ISubmissionGate, ScriptedSubmissionGate>());
        services.Configure<OrchestrationOptions>(orchestration => orchestration.RequestDeadline = options.RequestDeadline);
        // No retries: the in-memory bus has no outages to wait out, and a scripted failure should fail at once.
        services.Configure<InferenceSagaEndpointOptions>(endpoint => endpoint.ConfigureRetry = null);

        services.AddMassTransitTestHarness(bus =>
        {
            bus.AddSagaStateMachine<InferenceStateMachine, InferenceState, InferenceStateDefinition>().InMemoryRepository();
            bus.AddConsumer<ScriptedQuotaReservationConsumer>().Endpoint(e => e.Name = ProtocolEndpoints.Quota);
            bus.AddConsumer<ScriptedQuotaSettlementConsumer>().Endpoint(e => e.Name = ProtocolEndpoints.QuotaSettlements);
            // One queue per model, as the platform's workers: connected as the script learns its models.
            bus.AddConsumer<ScriptedModelConsumer>().ExcludeFromConfigureEndpoints();
            bus.AddConsumer<InMemoryResultStoreConsumer>().Endpoint(e => e.Name = ProtocolEndpoints.Results);
            bus.AddConsumer<ScriptedRunStopper>().Endpoint(e => e.Name = "inference-testing-run-stopper");
            options.ApplyBus(bus);
        });
        services.Configure<TestHarnessOptions>(harness =>
        {
            harness.TestTimeout = options.Timeout;
            harness.TestInactivityTimeout = options.InactivityTimeout;
        });

        services.AddSingleton(provider => new InferenceTestHarness(provider.GetRequiredService<ITestHarness>(), clock, options.Script,
            provider.GetRequiredService<ScriptedQuotaLedger>(), provider.GetRequiredService<InMemoryResultStore>(),
            provider.GetRequiredService<ScriptedRuns>(), options));
        return services;
    }

    /// <summary>The harness that <see cref="AddInferenceTestHarness"/> added.</summary>
    public static InferenceTestHarness GetInferenceTestHarness(this IServiceProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        return provider.GetRequiredService<InferenceTestHarness>();
    }
}
