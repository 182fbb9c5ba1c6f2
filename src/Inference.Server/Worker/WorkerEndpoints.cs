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
    /// Requests in flight per model: two batches' worth, one in the model and the next gathering in the engine's queue.
    /// With one batch's worth, a batch of N left only the other requests to form the next one, so batches alternated
    /// around half full (the inference benchmark measured a mean of 15.7 inputs per run against a maximum of 32).
    /// </summary>
    internal static int InFlightFor(int maxBatchSize) => 2 * maxBatchSize;

    /// <summary>Messages kept in hand beyond those in flight, so the broker's round trip does not starve the next batch.</summary>
    internal static int PrefetchFor(int maxBatchSize) => InFlightFor(maxBatchSize) + Math.Max(2, maxBatchSize / 4);

    public void Configure(IBusRegistrationContext context, IReceiveConfigurator transport)
    {
        foreach (var model in models.Models)
        {
            var descriptor = model.Descriptor;
            transport.ReceiveEndpoint(ProtocolEndpoints.WorkerFor(descriptor.Id), endpoint =>
            {
                // Only what is sent to this model's queue: a RunInference published by mistake must not reach every model.
                endpoint.ConfigureConsumeTopology = false;
                // Requests in flight for two of the model's batches: the engine gathers concurrent calls (embedding inputs,
                // generation sequences) into one model run, so a limit of one would leave every batch at one.
                endpoint.ConcurrentMessageLimit = InFlightFor(descriptor.MaxBatchSize);
                endpoint.PrefetchCount = PrefetchFor(descriptor.MaxBatchSize);
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
