using System.Text;
using System.Threading.Channels;
using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Server.Worker;

/// <summary>
/// Publishes a streamed generation's text as <see cref="InferenceOutputDelta"/> pieces while the model runs. The engine
/// hands over each piece on its decoding thread, which a publish must never hold up (it decodes other requests' tokens in
/// the same step): <see cref="Add"/> only queues the piece, and a task of the consumer's publishes what has gathered, at
/// most once per interval, so that a fast model sends a few messages a second rather than one per token. Best effort: once
/// a publish fails, nothing more is published (a gap would only confuse a reader), and the final text still arrives with
/// <see cref="InferenceSucceeded"/>.
/// </summary>
internal sealed partial class GenerationStream : IDisposable
{
    // Not single-writer: a decoding thread may still hand over a piece while a canceled run is being abandoned.
    private readonly Channel<string> _pieces =
        Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    private readonly TaskCompletionSource _generated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _abandon;
    private readonly IPublishEndpoint _publisher;
    private readonly Guid _inferenceId;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _interval;
    private readonly ILogger _logger;
    private readonly Task _pump;

    /// <param name="context">Where the pieces are published, and whose cancellation stops them.</param>
    /// <param name="inferenceId">The request streamed.</param>
    /// <param name="clock">For the interval.</param>
    /// <param name="interval">The shortest time between two publishes.</param>
    /// <param name="logger">For a failed publish.</param>
    public GenerationStream(ConsumeContext context, Guid inferenceId, TimeProvider clock, TimeSpan interval, ILogger logger)
    {
        _publisher = context;
        _inferenceId = inferenceId;
        _clock = clock;
        _interval = interval;
        _logger = logger;
        _abandon = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        _pump = Task.Run(PumpAsync, CancellationToken.None);
    }

    /// <summary>Takes one piece of text from the decoding thread: never blocks, never throws.</summary>
    public void Add(string piece)
    {
        if (!string.IsNullOrEmpty(piece))
            _pieces.Writer.TryWrite(piece);
    }

    /// <summary>The generation finished: publishes what is left at once, and returns when every piece is out.</summary>
    public async Task CompleteAsync()
    {
        _pieces.Writer.TryComplete();
        _generated.TrySetResult();
        try
        {
            await _pump.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_abandon.IsCancellationRequested)
        {
            // The consumer is being stopped: its outcome will not be published either.
        }
    }

    /// <summary>The generation did not finish (canceled, refused, failed): what is still queued is dropped.</summary>
    public async Task AbandonAsync()
    {
        _pieces.Writer.TryComplete();
        await _abandon.CancelAsync().ConfigureAwait(false);
        try
        {
            await _pump.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped, as asked.
        }
    }

    public void Dispose() => _abandon.Dispose();

    private async Task PumpAsync()
    {
        var reader = _pieces.Reader;
        var text = new StringBuilder();
        var sequence = 0;
        var failed = false;
        long lastPublished = 0;
        while (await reader.WaitToReadAsync(_abandon.Token).ConfigureAwait(false))
        {
            if (lastPublished != 0 && !_generated.Task.IsCompleted)
            {
                // Gathers pieces until the interval since the last publish is over, or the generation ends.
                var remaining = _interval - _clock.GetElapsedTime(lastPublished);
                if (remaining > TimeSpan.Zero)
                {
                    await Task.WhenAny(Task.Delay(remaining, _clock, _abandon.Token), _generated.Task).ConfigureAwait(false);
                    _abandon.Token.ThrowIfCancellationRequested();
                }
            }

            while (reader.TryRead(out var piece))
                text.Append(piece);
            if (text.Length == 0 || failed)
            {
                text.Clear();
                continue;
            }

            try
            {
                await _publisher.Publish(new InferenceOutputDelta { InferenceId = _inferenceId, Sequence = sequence, Text = text.ToString() },
                    _abandon.Token).ConfigureAwait(false);
                sequence++;
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !_abandon.IsCancellationRequested)
            {
                failed = true;
                LogPublishFailed(exception, _inferenceId, sequence);
            }

            text.Clear();
            lastPublished = _clock.GetTimestamp();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Streaming inference {InferenceId} stopped at piece {Sequence}: a publish failed. Its final text still arrives with its result.")]
    private partial void LogPublishFailed(Exception exception, Guid inferenceId, int sequence);
}
