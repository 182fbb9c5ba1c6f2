using Inference.Contracts;
using Inference.Engine;
using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Server.Worker;

/// <summary>
/// Runs a model over a request's inputs and publishes what it produced and the tokens it used: embeddings for an
/// embedding model, a completion (streamed in pieces when asked) for a text-generation model. Many run at once on one
/// model's endpoint (up to its batch size): the engine gathers concurrent calls into batches.
/// </summary>
public sealed partial class RunInferenceConsumer(WorkerModels models, RunningInferences running, TimeProvider clock,
    ILogger<RunInferenceConsumer> logger)
    : IConsumer<RunInference>
{
    /// <summary>The shortest time between two published pieces of a streamed generation: pieces are gathered meanwhile.</summary>
    public static readonly TimeSpan DeltaInterval = TimeSpan.FromMilliseconds(50);

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

        if (!models.TryGet(message.Model, out var model) || model is not (IEmbeddingModel or ITextGenerationModel))
            throw new UnknownModelException(message.Model);

        // Published before the work, not through an outbox: the saga moves to Inferring while the model runs.
        await context.Publish(new InferenceStarted { InferenceId = message.InferenceId, StartedAt = clock.GetUtcNow() },
            context.CancellationToken).ConfigureAwait(false);

        Outcome outcome;
        var calledAt = clock.GetUtcNow();
        using (var run = running.Start(message.InferenceId, message.NotAfter, context.CancellationToken))
        {
            try
            {
                outcome = model switch
                {
                    IEmbeddingModel embeddings => await EmbedAsync(embeddings, message, run.Token).ConfigureAwait(false),
                    ITextGenerationModel generator => await GenerateAsync(generator, context, run.Token).ConfigureAwait(false),
                    _ => throw new UnknownModelException(message.Model),
                };
            }
            catch (OperationCanceledException) when (run.Token.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
            {
                // Canceled, or past its deadline: the saga has ended the request and released its quota. The run was
                // stopped so that the worker is free for the next one.
                LogStopped(message.InferenceId);
                return;
            }
        }

        RecordQueueWait(model.Descriptor.Id, context.SentTime, outcome.StartedAt == default ? calledAt : outcome.StartedAt);
        await context.Publish(new InferenceSucceeded
        {
            InferenceId = message.InferenceId,
            Output = outcome.Output,
            Usage = outcome.Usage,
        }, context.CancellationToken).ConfigureAwait(false);
    }

    private static async Task<Outcome> EmbedAsync(IEmbeddingModel model, RunInference message, CancellationToken cancellationToken)
    {
        var result = await model.EmbedAsync(message.Inputs, cancellationToken).ConfigureAwait(false);
        return new Outcome(
            new InferenceOutput { Embeddings = result.Embeddings },
            new InferenceUsage { PromptTokens = result.PromptTokens, CompletionTokens = 0 },
            result.StartedAt);
    }

    private async Task<Outcome> GenerateAsync(ITextGenerationModel model, ConsumeContext<RunInference> context,
        CancellationToken cancellationToken)
    {
        var message = context.Message;
        using var stream = message.Stream
            ? new GenerationStream(context, message.InferenceId, clock, DeltaInterval, logger)
            : null;
        var request = Request(model.Descriptor, message) with { OnText = stream is null ? null : stream.Add };

        GenerationResult result;
        try
        {
            result = await model.GenerateAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Nothing more is published for a run that did not finish: its outcome is a fault or nothing.
            if (stream is not null)
                await stream.AbandonAsync().ConfigureAwait(false);
            throw;
        }

        // Every piece is published before the success, so that a reader of the stream sees the text before its end.
        if (stream is not null)
            await stream.CompleteAsync().ConfigureAwait(false);

        return new Outcome(
            new InferenceOutput { Text = result.Text, FinishReason = FinishReasonName(result.FinishReason) },
            new InferenceUsage { PromptTokens = result.PromptTokens, CompletionTokens = result.CompletionTokens },
            result.StartedAt);
    }

    /// <summary>
    /// The engine's request for <paramref name="message"/>: its parameters, or the defaults (the model's
    /// <c>max_output_tokens</c>, temperature 1, top_p 1, no seed, no stop strings). The engine checks the ranges.
    /// </summary>
    /// <exception cref="ArgumentException">Not one input, or no token limit at all: the request fails, never retried.</exception>
    internal static GenerationRequest Request(ModelDescriptor model, RunInference message)
    {
        if (message.Inputs.Count != 1)
        {
            throw new ArgumentException(
                $"A text-generation request has exactly one input, its prompt; this one has {message.Inputs.Count}.", nameof(message));
        }

        var parameters = message.Parameters ?? new GenerationParameters();
        return new GenerationRequest
        {
            Prompt = message.Inputs[0],
            MaxTokens = parameters.MaxTokens ?? model.MaxOutputTokens
                ?? throw new ArgumentException($"Model '{model.Id}' has no max_output_tokens, and the request sets no max_tokens.", nameof(message)),
            Temperature = (float)(parameters.Temperature ?? 1d),
            TopP = (float)(parameters.TopP ?? 1d),
            Seed = parameters.Seed,
            Stop = parameters.Stop ?? [],
        };
    }

    private static string FinishReasonName(FinishReason reason) => reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => throw new InvalidOperationException($"A finish reason with no name: {reason}."),
    };

    /// <summary>
    /// <c>inference_queue_wait_seconds{model}</c>: from the run message being sent (by the saga) to the request's first
    /// model run. Clocks of different machines may disagree by a little: a negative wait counts as none.
    /// </summary>
    private static void RecordQueueWait(string model, DateTime? sentTime, DateTimeOffset startedAt)
    {
        if (sentTime is not { } sent)
            return;
        var wait = startedAt - new DateTimeOffset(DateTime.SpecifyKind(sent, DateTimeKind.Utc));
        InferenceMetrics.QueueWait.Record(Math.Max(0, wait.TotalSeconds), new KeyValuePair<string, object?>("model", model));
    }

    private sealed record Outcome(InferenceOutput Output, InferenceUsage Usage, DateTimeOffset StartedAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Inference {InferenceId} was not run: it was canceled.")]
    private partial void LogCanceled(Guid inferenceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Inference {InferenceId} was stopped before its end: canceled or past its deadline.")]
    private partial void LogStopped(Guid inferenceId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Inference {InferenceId} was not run: its deadline, {Deadline:O}, had passed.")]
    private partial void LogExpired(Guid inferenceId, DateTimeOffset deadline);
}
