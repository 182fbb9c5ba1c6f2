using System.Diagnostics;

namespace Inference.Benchmarks.Measurement;

/// <summary>
/// Waits for processes to come to rest after a load. A fixed pause is not enough: .NET goes on compiling the hot
/// methods again (tiered compilation) in the background after a load ends, for up to 15 s on a busy two-core machine,
/// and that time belongs neither to the idle baseline nor to the next measured phase.
/// </summary>
internal static class Rest
{
    // Idle roles use 0 to 1 tick a second (the deadline sweep, timers); the compiler, tens.
    private const long RestingTicksPerSecond = 2;
    private const int RestingSeconds = 3;

    /// <summary>Waits at least <paramref name="atLeast"/>, and until every process has rested for a few seconds.</summary>
    /// <returns>False if they were still busy after <paramref name="atMost"/>.</returns>
    public static async Task<bool> WaitAsync(IReadOnlyCollection<int> pids, TimeSpan atLeast, TimeSpan atMost, CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        var previous = Ticks(pids);
        var restingFor = 0;
        while (waited.Elapsed < atLeast || restingFor < RestingSeconds)
        {
            if (waited.Elapsed >= atMost)
                return false;
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            var current = Ticks(pids);
            restingFor = current.Zip(previous).All(t => t.First - t.Second <= RestingTicksPerSecond) ? restingFor + 1 : 0;
            previous = current;
        }

        return true;
    }

    private static long[] Ticks(IReadOnlyCollection<int> pids) => [.. pids.Select(pid => ProcFs.Read(pid)?.OwnTicks ?? 0)];
}
