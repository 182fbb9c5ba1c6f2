using Inference.Contracts;
using MassTransit;

namespace Inference.Server.Worker;

/// <summary>
/// Hears of every cancel (on a queue of this worker's own, so that each worker hears it) and stops the model run in
/// progress for it, if this worker has one.
/// </summary>
public sealed partial class InferenceCanceledConsumer(RunningInferences running, ILogger<InferenceCanceledConsumer> logger)
    : IConsumer<InferenceCanceled>
{
    public Task Consume(ConsumeContext<InferenceCanceled> context)
    {
        if (running.Cancel(context.Message.InferenceId))
            LogStopped(context.Message.InferenceId, context.Message.Reason.Code);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped the model run of inference {InferenceId}: it was canceled ({Reason}).")]
    private partial void LogStopped(Guid inferenceId, string reason);
}
