using MassTransit;

namespace Inference.Server.Worker;

/// <summary>The model worker: loads and warms its models, then runs what the saga sends it.</summary>
public static class WorkerFeature
{
    public static IServiceCollection AddWorker(this IServiceCollection services)
    {
        services.AddHostedService<ModelWarmUp>();
        return services;
    }

    public static IBusRegistrationConfigurator AddWorker(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<RunInferenceConsumer, RunInferenceConsumerDefinition>();
        return bus;
    }
}
