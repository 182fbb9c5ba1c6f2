using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>
/// The submissions of this API process that wait (<c>Prefer: wait</c>) for their request to end: one task per request,
/// completed by <see cref="InferenceOutcomeConsumer"/> when the request's outcome event arrives. A waiter holds no thread
/// and no database connection; it is removed when disposed, whether it was completed, timed out or its client left.
/// At most <see cref="ApiOptions.MaxWaiters"/> wait at once.
/// </summary>
public sealed class InferenceWaiters(IOptions<ApiOptions> options)
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiting = new();
    private int _count;

    /// <summary>Waiters registered now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Registers a waiter for <paramref name="inferenceId"/>, or returns null when this process has its most.</summary>
    public Waiter? TryAdd(Guid inferenceId)
    {
        if (Interlocked.Increment(ref _count) > options.Value.MaxWaiters)
        {
            Interlocked.Decrement(ref _count);
            return null;
        }

        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_waiting.TryAdd(inferenceId, ended))
        {
            Interlocked.Decrement(ref _count);
            return null;
        }

        return new Waiter(this, inferenceId, ended.Task);
    }

    /// <summary>Tells the waiter of <paramref name="inferenceId"/>, if this process has one, that its request has ended.</summary>
    public void Complete(Guid inferenceId)
    {
        if (_waiting.TryGetValue(inferenceId, out var ended))
            ended.TrySetResult();
    }

    private void Remove(Guid inferenceId)
    {
        if (_waiting.TryRemove(inferenceId, out _))
            Interlocked.Decrement(ref _count);
    }

    /// <summary>One submission's wait; dispose it to remove it.</summary>
    public sealed class Waiter(InferenceWaiters waiters, Guid inferenceId, Task ended) : IDisposable
    {
        /// <summary>True when the request ended within <paramref name="timeout"/>, false when it did not.</summary>
        /// <exception cref="OperationCanceledException">The client left.</exception>
        public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (timeout <= TimeSpan.Zero)
                return ended.IsCompleted;
            try
            {
                await ended.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        public void Dispose() => waiters.Remove(inferenceId);
    }
}
