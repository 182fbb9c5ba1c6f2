using Inference.Engine;
using Inference.Orchestration.Protocol;
using Inference.Server.Messaging;
using MassTransit;

namespace Inference.Server.Worker;

/// <summary>
/// The worker's receive endpoints: one per model it serves (<see cref="ProtocolEndpoints.WorkerFor"/>), each sized by
/// its model, and the old single queue while <see cref="WorkerOptions.ForwardLegacyQueue"/> is on. They depend on the
/// models, which are known only once the container is built, hence configured here rather than by ConfigureEndpoints.
/// </summary>
internal sealed class WorkerEndpoints(WorkerModels models, Microsoft.Extensions.Options.IOptions<WorkerOptions> options) : IBusEndpoints
{
    /// <summary>
    /// Requests in flight per model: a batch's worth for each of its concurrent runs and one more gathering in the
    /// engine's queue for the next free run. With no batch gathering, a run of N left only the other requests to form the
    /// next one, so batches alternated around half full (the inference benchmark measured a mean of 15.7 inputs per run
    /// against a maximum of 32); with two runs and two batches' worth, a mean of 16.
    /// </summary>
    internal static int InFlightFor(ModelDescriptor model) => (model.ConcurrentRuns + 1) * model.MaxBatchSize;

    /// <summary>Messages kept in hand beyond those in flight, so the broker's round trip does not starve the next batch.</summary>
    internal static int PrefetchFor(ModelDescriptor model) => InFlightFor(model) + Math.Max(2, model.MaxBatchSize / 4);

    public void Configure(IBusRegistrationContext context, IReceiveConfigurator transport)
    {
        foreach (var model in models.Models)
        {
            var descriptor = model.Descriptor;
            transport.ReceiveEndpoint(ProtocolEndpoints.WorkerFor(descriptor.Id), endpoint =>
            {
                // Only what is sent to this model's queue: a RunInference published by mistake must not reach every model.
                endpoint.ConfigureConsumeTopology = false;
                // Requests in flight for the model's runs and one batch more: the engine gathers concurrent calls (embedding
                // inputs, generation sequences) into model runs, so a limit of one would leave every batch at one.
                endpoint.ConcurrentMessageLimit = InFlightFor(descriptor);
                endpoint.PrefetchCount = PrefetchFor(descriptor);
                endpoint.UseMessageRetry(retry =>
                {
                    // Neither a model this worker does not serve nor an input or parameter the model refuses gets better.
                    retry.Ignore<UnknownModelException>();
                    retry.Ignore<ArgumentException>();
                    retry.Intervals(200, 1000, 3000);
                });
                endpoint.ConfigureConsumer<RunInferenceConsumer>(context);
            });
        }

        if (options.Value.ForwardLegacyQueue)
        {
            transport.ReceiveEndpoint(ProtocolEndpoints.LegacyWorker, endpoint =>
            {
                endpoint.ConfigureConsumeTopology = false;
                endpoint.PrefetchCount = 16;
                endpoint.UseMessageRetry(retry => retry.Intervals(200, 1000, 3000));
                endpoint.ConfigureConsumer<LegacyWorkerQueueConsumer>(context);
            });
        }
    }
}
