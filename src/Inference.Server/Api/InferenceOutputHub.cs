using System.Threading.Channels;
using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Server.Api;

/// <summary>
/// The streamed generations this API process relays (<c>POST /v1/completions</c> with <c>stream: true</c>), by request:
/// the pieces the worker publishes (<see cref="InferenceOutputDelta"/>, heard by <see cref="InferenceOutputDeltaConsumer"/>)
/// and the request's end (heard by <see cref="InferenceOutcomeConsumer"/>) are queued for the stream that follows it. A
/// request nobody here follows costs one dictionary read per piece.
/// </summary>
public sealed class InferenceOutputHub
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, Subscription> _streams = new();

    /// <summary>Follows <paramref name="inferenceId"/>'s output; null when it is followed here already.</summary>
    public Subscription? TryWatch(Guid inferenceId)
    {
        var subscription = new Subscription(this, inferenceId);
        return _streams.TryAdd(inferenceId, subscription) ? subscription : null;
    }

    /// <summary>Queues a piece for the stream that follows its request, if this process has one.</summary>
    public void Deliver(InferenceOutputDelta delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        if (_streams.TryGetValue(delta.InferenceId, out var subscription))
            subscription.Pieces.Writer.TryWrite(delta);
    }

    /// <summary>Tells the stream that follows <paramref name="inferenceId"/>, if any, that the request has ended.</summary>
    public void End(Guid inferenceId)
    {
        if (_streams.TryGetValue(inferenceId, out var subscription))
            subscription.Pieces.Writer.TryComplete();
    }

    /// <summary>
    /// One request's pieces, in the order they were heard, completed when the request ends. Unbounded: a generation has
    /// at most its <c>max_tokens</c> pieces. Dispose it to stop following.
    /// </summary>
    public sealed class Subscription : IDisposable
    {
        private readonly InferenceOutputHub _hub;

        internal Subscription(InferenceOutputHub hub, Guid inferenceId)
        {
            _hub = hub;
            InferenceId = inferenceId;
        }

        public Guid InferenceId { get; }

        internal Channel<InferenceOutputDelta> Pieces { get; } =
            Channel.CreateUnbounded<InferenceOutputDelta>(new UnboundedChannelOptions { SingleReader = true });

        /// <summary>The pieces heard so far, and whether the request has ended (no more will come).</summary>
        public ChannelReader<InferenceOutputDelta> Reader => Pieces.Reader;

        public void Dispose() =>
            ((ICollection<KeyValuePair<Guid, Subscription>>)_hub._streams).Remove(new(InferenceId, this));
    }
}

/// <summary>
/// Hears every generation's pieces (on a queue of this API process's own, one at a time so that their order holds) and
/// hands them to the stream that relays them here, if any.
/// </summary>
public sealed class InferenceOutputDeltaConsumer(InferenceOutputHub hub) : IConsumer<InferenceOutputDelta>
{
    public Task Consume(ConsumeContext<InferenceOutputDelta> context)
    {
        hub.Deliver(context.Message);
        return Task.CompletedTask;
    }
}
