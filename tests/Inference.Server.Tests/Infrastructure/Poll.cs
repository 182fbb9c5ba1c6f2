using System.Diagnostics;

namespace Inference.Server.Tests.Infrastructure;

/// <summary>Waits for an asynchronous outcome by asking again until it shows or a deadline passes; never a fixed sleep.</summary>
internal static class Poll
{
    /// <summary>How long an outcome may take; far above what the model and the saga need.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(50);

    public static Task UntilAsync(Func<Task<bool>> condition, string waitingFor) =>
        UntilAsync(condition, done => done, waitingFor);

    public static Task UntilAsync(Func<bool> condition, string waitingFor) =>
        UntilAsync(() => Task.FromResult(condition()), done => done, waitingFor);

    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, string waitingFor)
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(Every);
        while (true)
        {
            var value = await read();
            if (done(value))
                return value;
            if (clock.Elapsed > Deadline)
                Assert.Fail($"Still waiting for {waitingFor} after {Deadline.TotalSeconds} s; last seen: {value}");
            await timer.WaitForNextTickAsync();
        }
    }
}
