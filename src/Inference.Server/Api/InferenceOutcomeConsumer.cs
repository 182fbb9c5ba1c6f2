using Inference.Contracts;
using MassTransit;

namespace Inference.Server.Api;

/// <summary>
/// Hears of every request's end (on a queue of this API process's own, so that each API process hears every outcome)
/// and completes this process's waiter for it, if it has one, and wakes this process's event streams of it, if any, and
/// ends its streamed generation here, if any.
/// </summary>
public sealed class InferenceOutcomeConsumer(InferenceWaiters waiters, InferenceEventHub streams, InferenceOutputHub outputs)
    : IConsumer<InferenceCompleted>, IConsumer<InferenceFailed>, IConsumer<InferenceCanceled>
{
    public Task Consume(ConsumeContext<InferenceCompleted> context) => Ended(context.Message.InferenceId);

    public Task Consume(ConsumeContext<InferenceFailed> context) => Ended(context.Message.InferenceId);

    public Task Consume(ConsumeContext<InferenceCanceled> context) => Ended(context.Message.InferenceId);

    private Task Ended(Guid inferenceId)
    {
        waiters.Complete(inferenceId);
        streams.Notify(inferenceId);
        outputs.End(inferenceId);
        return Task.CompletedTask;
    }
}
