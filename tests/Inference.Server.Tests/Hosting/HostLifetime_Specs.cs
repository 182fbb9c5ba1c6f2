using Inference.Server.Hosting;
using Microsoft.Extensions.Hosting;

namespace Inference.Server.Tests.Hosting;

/// <summary>
/// Background jobs wait for the host to start before they send. A host that fails to start (its database or broker
/// away) cancels that wait: the job must end quietly, not report a failure of its own over the real one.
/// </summary>
public sealed class When_a_background_job_waits_for_the_host_to_start
{
    [Fact]
    public async Task Should_go_on_once_the_host_has_started()
    {
        using var lifetime = new Lifetime();
        var waiting = lifetime.WhenStartedAsync(CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        lifetime.Start();

        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Should_answer_false_without_throwing_when_the_host_stops_before_it_started()
    {
        using var lifetime = new Lifetime();
        using var stopping = new CancellationTokenSource();
        var waiting = lifetime.WhenStartedAsync(stopping.Token);

        await stopping.CancelAsync();

        Assert.False(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private sealed class Lifetime : IHostApplicationLifetime, IDisposable
    {
        private readonly CancellationTokenSource _started = new();
        private readonly CancellationTokenSource _stopping = new();
        private readonly CancellationTokenSource _stopped = new();

        public CancellationToken ApplicationStarted => _started.Token;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => _stopped.Token;

        public void Start() => _started.Cancel();

        public void StopApplication() => _stopping.Cancel();

        public void Dispose()
        {
            _started.Dispose();
            _stopping.Dispose();
            _stopped.Dispose();
        }
    }
}
