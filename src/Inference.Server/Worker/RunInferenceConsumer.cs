using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Engine;
using MassTransit;

namespace Inference.Server.Worker;

/// <summary>Runs a model over a request's inputs and publishes what it produced and the tokens it used.</summary>
public sealed partial class RunInferenceConsumer(ModelCatalog models, RunningInferences running, TimeProvider clock,
    ILogger<RunInferenceConsumer> logger)
    : IConsumer<RunInference>
{
    public async Task Consume(ConsumeContext<RunInference> context)
    {
        var message = context.Message;
        if (message.NotAfter is { } notAfter && clock.GetUtcNow() > notAfter)
        {
            // The saga fails the request at its deadline and releases its quota; running it now would be wasted work.
            LogExpired(message.InferenceId, notAfter);
            return;
        }

        if (running.WasCanceled(message.InferenceId))
        {
            // The saga has canceled the request and released its quota; a success now would be discarded.
            LogCanceled(message.InferenceId);
            return;
        }

        if (!models.TryGet(message.Model, out var model) || model is not IEmbeddingModel embeddings)
            throw new UnknownModelException(message.Model);

        // Published before the work, not through an outbox: the saga moves to Inferring while the model runs.
        await context.Publish(new InferenceStarted { InferenceId = message.InferenceId, StartedAt = clock.GetUtcNow() },
            context.CancellationToken).ConfigureAwait(false);

        EmbeddingResult result;
        using (var run = running.Start(message.InferenceId, message.NotAfter, context.CancellationToken))
        {
            try
            {
                result = await embeddings.EmbedAsync(message.Inputs, run.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (run.Token.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            {
                // Canceled, or past its deadline: the saga has ended the request and released its quota. The run was
                // stopped so that the worker is free for the next one.
                LogStopped(message.InferenceId);
                return;
            }
        }

        await context.Publish(new InferenceSucceeded
        {
            InferenceId = message.InferenceId,
            Output = new InferenceOutput { Embeddings = result.Embeddings },
            Usage = new InferenceUsage { PromptTokens = result.PromptTokens, CompletionTokens = 0 },
        }, context.CancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Inference {InferenceId} was not run: it was canceled.")]
    private partial void LogCanceled(Guid inferenceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Inference {InferenceId} was stopped before its end: canceled or past its deadline.")]
    private partial void LogStopped(Guid inferenceId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Inference {InferenceId} was not run: its deadline, {Deadline:O}, had passed.")]
    private partial void LogExpired(Guid inferenceId, DateTimeOffset deadline);
}
