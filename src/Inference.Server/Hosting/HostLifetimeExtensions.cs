namespace Inference.Server.Hosting;

public static class HostLifetimeExtensions
{
    /// <summary>
    /// Completes once the host has started, and with it the bus (a hosted service of its own): a background service
    /// that sends before then could race the bus's start.
    /// </summary>
    /// <returns>True once the host has started; false when <paramref name="cancellationToken"/> ended the wait first
    /// (the host is stopping, or failed to start), which is not a failure of the caller's.</returns>
    public static async Task<bool> WhenStartedAsync(this IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lifetime);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        try
        {
            await started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
