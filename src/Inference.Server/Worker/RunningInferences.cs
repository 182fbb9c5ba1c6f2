using System.Collections.Concurrent;

namespace Inference.Server.Worker;

/// <summary>
/// The model runs in progress in this worker, and the requests canceled lately, so that a cancel stops a run in progress
/// and keeps a queued one from starting. One per process; the cancel reaches every worker (see
/// <see cref="InferenceCanceledConsumer"/>).
/// </summary>
public sealed class RunningInferences(TimeProvider clock)
{
    /// <summary>How long a cancel is remembered for work that has not arrived yet (a redelivery, a queued message).</summary>
    public static readonly TimeSpan CancelMemory = TimeSpan.FromMinutes(15);

    private readonly ConcurrentDictionary<Guid, CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _canceled = new();
    private long _forgottenAt;

    /// <summary>
    /// Registers a run of <paramref name="inferenceId"/>: its token is canceled by <see cref="Cancel"/>, at
    /// <paramref name="notAfter"/> (the request's deadline), or with <paramref name="stopping"/> (the host stopping).
    /// </summary>
    public Run Start(Guid inferenceId, DateTimeOffset? notAfter, CancellationToken stopping)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        if (notAfter is { } deadline)
            source.CancelAfter(TimeSpan.FromTicks(Math.Max(0, (deadline - clock.GetUtcNow()).Ticks)));

        _running[inferenceId] = source;
        if (_canceled.ContainsKey(inferenceId))
            source.Cancel();
        return new Run(this, inferenceId, source);
    }

    /// <summary>True when <paramref name="inferenceId"/> was canceled lately: its work is not to be started.</summary>
    public bool WasCanceled(Guid inferenceId) => _canceled.ContainsKey(inferenceId);

    /// <summary>Stops the run of <paramref name="inferenceId"/> if one is in progress here, and remembers the cancel.</summary>
    /// <returns>True when a run in progress was stopped.</returns>
    public bool Cancel(Guid inferenceId)
    {
        var now = clock.GetUtcNow();
        _canceled[inferenceId] = now;
        Forget(now - CancelMemory);

        if (!_running.TryGetValue(inferenceId, out var source))
            return false;

        try
        {
            source.Cancel();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false; // ended meanwhile
        }
    }

    /// <summary>Drops cancels older than <paramref name="before"/>; at most once a minute, so a storm of cancels does not
    /// scan the memory once per cancel.</summary>
    private void Forget(DateTimeOffset before)
    {
        var now = clock.GetTimestamp();
        var last = Interlocked.Read(ref _forgottenAt);
        if (last != 0 && clock.GetElapsedTime(last, now) < TimeSpan.FromMinutes(1))
            return;
        if (Interlocked.CompareExchange(ref _forgottenAt, now, last) != last)
            return;

        foreach (var (id, at) in _canceled)
        {
            if (at < before)
                _canceled.TryRemove(id, out _);
        }
    }

    /// <summary>One run in progress; disposing it ends its registration.</summary>
    public sealed class Run(RunningInferences owner, Guid inferenceId, CancellationTokenSource source) : IDisposable
    {
        public CancellationToken Token => source.Token;

        public void Dispose()
        {
            ((ICollection<KeyValuePair<Guid, CancellationTokenSource>>)owner._running).Remove(new(inferenceId, source));
            source.Dispose();
        }
    }
}
