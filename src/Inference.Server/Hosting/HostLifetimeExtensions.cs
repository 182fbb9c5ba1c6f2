namespace Inference.Server.Hosting;

public static class HostLifetimeExtensions
{
    /// <summary>
    /// Completes once the host has started, and with it the bus (a hosted service of its own): a background service
    /// that sends before then could race the bus's start.
    /// </summary>
    public static Task WhenStartedAsync(this IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lifetime);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        return started.Task.WaitAsync(cancellationToken);
    }
}
