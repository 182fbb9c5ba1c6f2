using System.Diagnostics;

namespace Inference.Benchmarks.Measurement;

/// <summary>The parts of the system whose CPU time is measured, each as the root of a process tree.</summary>
/// <param name="Roots">Component name to the pid of its root process; null for a service that does not run on this machine.</param>
/// <param name="Excluded">
/// Processes inside those trees whose time belongs to the benchmark, not to the pipeline (the watcher's database
/// backend), by the component they are taken out of.
/// </param>
internal sealed record MeasuredProcesses(IReadOnlyDictionary<string, int?> Roots, IReadOnlyDictionary<string, int> Excluded);

/// <summary>CPU time of every component, of this process and of the machine at one moment.</summary>
/// <param name="Timestamp">When it was taken, as a <see cref="Stopwatch"/> timestamp.</param>
/// <param name="Milliseconds">CPU milliseconds so far per component; absent for a component that is not measured.</param>
/// <param name="ExcludedMilliseconds">CPU milliseconds of the excluded processes, by component.</param>
/// <param name="ClientMilliseconds">This process: the load driver, the watcher's client side, the drain checks.</param>
/// <param name="Machine">The machine's CPU time.</param>
internal sealed record CpuSnapshot(
    long Timestamp,
    IReadOnlyDictionary<string, double> Milliseconds,
    IReadOnlyDictionary<string, double> ExcludedMilliseconds,
    double ClientMilliseconds,
    MachineTimes Machine)
{
    public static CpuSnapshot Take(MeasuredProcesses measured)
    {
        var processes = ProcFs.ReadProcesses();
        var machine = ProcFs.ReadMachine();
        var client = Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
        var timestamp = Stopwatch.GetTimestamp();
        var excluded = measured.Excluded.ToDictionary(
            e => e.Key,
            e => processes.TryGetValue(e.Value, out var process) ? ProcFs.TicksToMilliseconds(process.OwnTicks) : 0);
        var milliseconds = measured.Roots
            .Where(r => r.Value is not null)
            .ToDictionary(
                r => r.Key,
                r => ProcFs.TicksToMilliseconds(ProcFs.TreeTicks(processes, r.Value!.Value)) - excluded.GetValueOrDefault(r.Key));
        return new CpuSnapshot(timestamp, milliseconds, excluded, client, machine);
    }

    /// <summary>Seconds from <paramref name="start"/> to this snapshot.</summary>
    public double SecondsSince(CpuSnapshot start) => Stopwatch.GetElapsedTime(start.Timestamp, Timestamp).TotalSeconds;
}
