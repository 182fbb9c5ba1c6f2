using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Server.Worker;

/// <summary>
/// Drains the single worker queue of earlier releases (<see cref="ProtocolEndpoints.LegacyWorker"/>) after an upgrade:
/// each <see cref="RunInference"/> still there is forwarded, unchanged (its id, its sent time), to its model's queue, where
/// whichever worker serves that model runs it. Nothing sends to the old queue any more; see
/// <see cref="WorkerOptions.ForwardLegacyQueue"/>.
/// </summary>
public sealed partial class LegacyWorkerQueueConsumer(ILogger<LegacyWorkerQueueConsumer> logger) : IConsumer<RunInference>
{
    public async Task Consume(ConsumeContext<RunInference> context)
    {
        var queue = ProtocolEndpoints.WorkerFor(context.Message.Model);
        await context.Forward(new Uri($"queue:{queue}")).ConfigureAwait(false);
        LogForwarded(context.Message.InferenceId, queue);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Inference {InferenceId} was waiting in the old queue inference-worker: forwarded to {Queue}.")]
    private partial void LogForwarded(Guid inferenceId, string queue);
}
