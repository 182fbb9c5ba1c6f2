using Inference.Engine;
using Inference.Server.Hosting;
using Inference.Server.Messaging;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Inference.Server.Worker;

/// <summary>The model worker: loads and warms its models, then runs what the saga sends to their queues.</summary>
public static class WorkerFeature
{
    public static IServiceCollection AddWorker(this IServiceCollection services, IHealthChecksBuilder health)
    {
        ArgumentNullException.ThrowIfNull(health);
        services.AddOptions<WorkerOptions>().Configure<IConfiguration>(WorkerOptions.Bind);
        // The catalogue's models unless a host (a test) registered its own set first.
        services.TryAddSingleton(provider =>
            WorkerModels.FromCatalog(provider.GetRequiredService<ModelCatalog>(), provider.GetRequiredService<IOptions<WorkerOptions>>()));
        services.AddSingleton<IBusEndpoints, WorkerEndpoints>();
        services.AddHostedService<ModelWarmUp>();
        services.AddSingleton<RunningInferences>();
        health.AddCheck<WorkerReadinessCheck>("models", tags: ["ready"]);
        return services;
    }

    public static IBusRegistrationConfigurator AddWorker(this IBusRegistrationConfigurator bus)
    {
        // Their endpoints depend on the models served: see WorkerEndpoints.
        bus.AddConsumer<RunInferenceConsumer>().ExcludeFromConfigureEndpoints();
        bus.AddConsumer<LegacyWorkerQueueConsumer>().ExcludeFromConfigureEndpoints();

        // Every worker must hear every cancel: a queue of this process's own, deleted when it stops.
        bus.AddConsumer<InferenceCanceledConsumer>().Endpoint(endpoint =>
        {
            endpoint.Name = $"inference-worker-cancels-{NewId.NextGuid():N}";
            endpoint.Temporary = true;
        });
        return bus;
    }
}
