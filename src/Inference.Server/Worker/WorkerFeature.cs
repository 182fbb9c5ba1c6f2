using MassTransit;

namespace Inference.Server.Worker;

/// <summary>The model worker: loads and warms its models, then runs what the saga sends it.</summary>
public static class WorkerFeature
{
    public static IServiceCollection AddWorker(this IServiceCollection services)
    {
        services.AddHostedService<ModelWarmUp>();
        services.AddSingleton<RunningInferences>();
        return services;
    }

    public static IBusRegistrationConfigurator AddWorker(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<RunInferenceConsumer, RunInferenceConsumerDefinition>();

        // Every worker must hear every cancel: a queue of this process's own, deleted when it stops.
        bus.AddConsumer<InferenceCanceledConsumer>().Endpoint(endpoint =>
        {
            endpoint.Name = $"inference-worker-cancels-{NewId.NextGuid():N}";
            endpoint.Temporary = true;
        });
        return bus;
    }
}
