using System.Threading.Channels;
using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Server.Api;

/// <summary>
/// The streamed generations this API process relays (<c>POST /v1/completions</c> with <c>stream: true</c>, the
/// <c>output</c> events of <c>GET /v1/inferences/{id}/events</c>), by request:
/// the pieces the worker publishes (<see cref="InferenceOutputDelta"/>, heard by <see cref="InferenceOutputDeltaConsumer"/>)
/// and the request's end (heard by <see cref="InferenceOutcomeConsumer"/>) are queued for the stream that follows it. A
/// request nobody here follows costs one dictionary read per piece.
/// </summary>
public sealed class InferenceOutputHub
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, List<Subscription>> _streams = [];
    private int _count;

    /// <summary>Follows <paramref name="inferenceId"/>'s output; several streams may follow one request.</summary>
    public Subscription Watch(Guid inferenceId)
    {
        var subscription = new Subscription(this, inferenceId);
        lock (_gate)
        {
            if (!_streams.TryGetValue(inferenceId, out var streams))
                _streams[inferenceId] = streams = [];
            streams.Add(subscription);
            _count++;
        }

        return subscription;
    }

    /// <summary>Queues a piece for the streams that follow its request, if this process has any.</summary>
    public void Deliver(InferenceOutputDelta delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        if (Volatile.Read(ref _count) == 0)
            return;
        lock (_gate)
        {
            if (_streams.TryGetValue(delta.InferenceId, out var streams))
                streams.ForEach(stream => stream.Pieces.Writer.TryWrite(delta));
        }
    }

    /// <summary>Tells the streams that follow <paramref name="inferenceId"/>, if any, that the request has ended.</summary>
    public void End(Guid inferenceId)
    {
        if (Volatile.Read(ref _count) == 0)
            return;
        lock (_gate)
        {
            if (_streams.TryGetValue(inferenceId, out var streams))
                streams.ForEach(stream => stream.Pieces.Writer.TryComplete());
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_gate)
        {
            if (!_streams.TryGetValue(subscription.InferenceId, out var streams) || !streams.Remove(subscription))
                return;
            if (streams.Count == 0)
                _streams.Remove(subscription.InferenceId);
            _count--;
        }
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

        public void Dispose() => _hub.Remove(this);
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

/// <summary>
/// The order of one request's pieces as a stream relays them: each in its <see cref="InferenceOutputDelta.Sequence"/>
/// order, a piece heard twice once, and none after a gap (one was lost): from then on the final text has the rest.
/// </summary>
internal sealed class PieceSequence
{
    private int _next;

    /// <summary>False once a piece was missing.</summary>
    public bool IsRelaying { get; private set; } = true;

    /// <summary>The text to relay for <paramref name="piece"/>, or null when there is none to relay.</summary>
    public string? Accept(InferenceOutputDelta piece)
    {
        ArgumentNullException.ThrowIfNull(piece);
        if (!IsRelaying || piece.Sequence < _next)
            return null;
        if (piece.Sequence > _next)
        {
            IsRelaying = false;
            return null;
        }

        _next++;
        return piece.Text.Length == 0 ? null : piece.Text;
    }
}
