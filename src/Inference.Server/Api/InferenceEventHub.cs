using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>
/// The event streams this API process holds open (<c>GET /v1/inferences/{id}/events</c>), by request: each stream
/// registers the id it follows and the status it last saw, and is woken when its request may have changed, by the
/// outcome events (<see cref="InferenceOutcomeConsumer"/>) or by <see cref="InferenceEventPoller"/>'s one query for all
/// of them. A stream holds no thread and no database connection while it waits. At most
/// <see cref="ApiOptions.MaxEventStreams"/> are open at once.
/// </summary>
public sealed class InferenceEventHub(IOptions<ApiOptions> options)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, List<Subscription>> _streams = [];
    private TaskCompletionSource _firstStream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _count;

    /// <summary>Streams open now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Registers a stream of <paramref name="inferenceId"/>'s changes, or returns null when this process has its most.</summary>
    public Subscription? TryWatch(Guid inferenceId)
    {
        var stream = new Subscription(this, inferenceId);
        lock (_gate)
        {
            if (_count >= options.Value.MaxEventStreams)
                return null;
            if (!_streams.TryGetValue(inferenceId, out var streams))
                _streams[inferenceId] = streams = [];
            streams.Add(stream);
            if (_count++ == 0)
                _firstStream.TrySetResult();
        }

        return stream;
    }

    /// <summary>Wakes the streams of <paramref name="inferenceId"/>, if this process has any: the request may have changed.</summary>
    public void Notify(Guid inferenceId)
    {
        // Every request's outcome passes here; with no stream open it costs one read.
        if (Count == 0)
            return;
        lock (_gate)
        {
            if (_streams.TryGetValue(inferenceId, out var streams))
                streams.ForEach(stream => stream.Wake());
        }
    }

    /// <summary>Completes once at least one stream is open, so that the poller costs nothing while none is.</summary>
    public Task WhenWatchedAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return _count > 0 ? Task.CompletedTask : _firstStream.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>The requests followed now.</summary>
    public IReadOnlyList<Guid> Watched()
    {
        lock (_gate)
        {
            return [.. _streams.Keys];
        }
    }

    /// <summary>
    /// Wakes every stream of the requests <paramref name="asked"/> about whose status (API name) in
    /// <paramref name="statuses"/> is not the one it last saw, or that is no longer stored.
    /// </summary>
    public void Observe(IReadOnlyList<Guid> asked, IReadOnlyDictionary<Guid, string> statuses)
    {
        ArgumentNullException.ThrowIfNull(asked);
        ArgumentNullException.ThrowIfNull(statuses);
        lock (_gate)
        {
            foreach (var inferenceId in asked)
            {
                if (!_streams.TryGetValue(inferenceId, out var streams))
                    continue;
                var status = statuses.GetValueOrDefault(inferenceId);
                foreach (var stream in streams)
                {
                    // A stream that has not read yet is about to; a needless wake-up costs one read.
                    if (stream.SeenStatus is { } seen && seen != status)
                        stream.Wake();
                }
            }
        }
    }

    private void Remove(Subscription stream)
    {
        lock (_gate)
        {
            if (!_streams.TryGetValue(stream.InferenceId, out var streams) || !streams.Remove(stream))
                return;
            if (streams.Count == 0)
                _streams.Remove(stream.InferenceId);
            if (--_count == 0)
                _firstStream = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>One open stream's registration; dispose it to remove it.</summary>
    public sealed class Subscription : IDisposable
    {
        private readonly InferenceEventHub _hub;
        private readonly Lock _gate = new();
        private TaskCompletionSource _woken = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile string? _seenStatus;

        internal Subscription(InferenceEventHub hub, Guid inferenceId)
        {
            _hub = hub;
            InferenceId = inferenceId;
        }

        public Guid InferenceId { get; }

        /// <summary>The status (API name) the stream last read; null before its first read.</summary>
        public string? SeenStatus
        {
            get => _seenStatus;
            set => _seenStatus = value;
        }

        /// <summary>
        /// True when the stream was woken (since its last wake-up) within <paramref name="timeout"/>, false when not.
        /// A wake-up that comes while the stream reads is kept for its next wait, so that none is lost.
        /// </summary>
        /// <exception cref="OperationCanceledException">The client left or the process stops.</exception>
        public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider clock, CancellationToken cancellationToken)
        {
            Task woken;
            lock (_gate)
                woken = _woken.Task;
            try
            {
                await woken.WaitAsync(timeout, clock, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return false;
            }

            lock (_gate)
            {
                if (_woken.Task.IsCompleted)
                    _woken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            return true;
        }

        internal void Wake()
        {
            lock (_gate)
                _woken.TrySetResult();
        }

        public void Dispose() => _hub.Remove(this);
    }
}
