using Inference.Benchmarks.Measurement;

namespace Inference.Benchmarks.Pipeline;

/// <summary>Turns the readings at the edges of a window into per-request figures.</summary>
internal static class PipelineFigures
{
    /// <summary>The components measured, in the order they are reported.</summary>
    public static readonly string[] Components = ["api", "orchestrator", "worker", "postgresql", "rabbitmq", "redis"];

    // Above these, other work on the machine or on the shared services has most likely moved the figures.
    public const double DisturbedOtherCpuPercent = 5;
    private const long DisturbedOtherCommits = 50;
    private const long DisturbedOtherPublishes = 50;

    public static BaselineFigures Baseline(CpuSnapshot start, CpuSnapshot end, CounterSnapshot counted, CounterSnapshot countedEnd, string sandbox)
    {
        var seconds = end.SecondsSince(start);
        var counterSeconds = countedEnd.SecondsSince(counted);
        var cpu = Components.Where(end.Milliseconds.ContainsKey)
            .ToDictionary(c => c, c => (end.Milliseconds[c] - start.Milliseconds[c]) / seconds, StringComparer.Ordinal);
        var traffic = Traffic(counted, countedEnd, sandbox);
        return new BaselineFigures(
            Round(seconds, 2),
            cpu.ToDictionary(c => c.Key, c => Round(c.Value, 3), StringComparer.Ordinal),
            Round((end.ClientMilliseconds - start.ClientMilliseconds) / seconds, 3),
            Round(PipelineCommits(counted, countedEnd, sandbox) / counterSeconds, 3),
            Round(traffic.Published / counterSeconds, 3),
            Round(traffic.Delivered / counterSeconds, 3),
            Round(PipelineRedisCommands(counted, countedEnd) / counterSeconds, 3),
            Interference(start, end, counted, countedEnd, sandbox))
        {
            CpuRates = cpu,
        };
    }

    public static PhaseFigures Phase(
        PhaseSettings settings,
        IReadOnlyList<RequestOutcome> outcomes,
        CpuSnapshot start,
        CpuSnapshot end,
        CounterSnapshot counted,
        CounterSnapshot countedEnd,
        BaselineFigures baseline,
        ModelFigures model,
        string sandbox,
        IReadOnlyDictionary<string, long> queues)
    {
        var n = (double)outcomes.Count;
        var window = end.SecondsSince(start);
        var counterWindow = countedEnd.SecondsSince(counted);
        var finished = outcomes.Where(o => o.Final is not null).ToList();
        var span = finished.Count > 0 ? (finished.Max(o => o.Final!.UpdatedAt) - outcomes.Min(o => o.SentAt)).TotalSeconds : window;

        // Each component's CPU in the window, less what it burns idle over the same time.
        var cpu = Components.Where(end.Milliseconds.ContainsKey).ToDictionary(
            c => c,
            c => (end.Milliseconds[c] - start.Milliseconds[c] - baseline.CpuRates.GetValueOrDefault(c) * window) / n,
            StringComparer.Ordinal);
        var total = cpu.Values.Sum();
        double? Cpu(string component) => cpu.TryGetValue(component, out var value) ? Round(value, 3) : null;
        var watcher = end.ExcludedMilliseconds.Sum(e => e.Value - start.ExcludedMilliseconds.GetValueOrDefault(e.Key));

        var traffic = Traffic(counted, countedEnd, sandbox);
        var errorQueues = queues.Keys.Where(q => q.EndsWith("_error", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();

        return new PhaseFigures(
            settings.Concurrency,
            outcomes.Count,
            outcomes.Count(o => o.Completed),
            outcomes.Where(o => !o.Completed).GroupBy(o => o.Failure!).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            Round(span, 2),
            Round(n / span, 2),
            Percentiles.Of(finished.Select(o => o.SubmitToFinalMilliseconds)),
            Percentiles.Of(outcomes.Select(o => o.PostMilliseconds)),
            new CpuPerRequest(
                Cpu("api"), Cpu("orchestrator"), Cpu("worker"), Cpu("postgresql"), Cpu("rabbitmq"), Cpu("redis"),
                Round(total, 3),
                Round(total - model.CpuMsPerInput, 3),
                // Not baseline-subtracted: idle, this program wakes up for every watcher query, and under load it does
                // not, so its idle rate would overstate what to take away.
                Round((end.ClientMilliseconds - start.ClientMilliseconds) / n, 3),
                Round(watcher / n, 3)),
            Round((traffic.Published - baseline.PublishedPerSecond * counterWindow) / n, 2),
            Round((traffic.Delivered - baseline.DeliveredPerSecond * counterWindow) / n, 2),
            Round((PipelineCommits(counted, countedEnd, sandbox) - baseline.CommitsPerSecond * counterWindow) / n, 2),
            Round((PipelineRedisCommands(counted, countedEnd) - baseline.RedisCommandsPerSecond * counterWindow) / n, 2),
            Round(window, 2),
            Interference(start, end, counted, countedEnd, sandbox),
            queues.Where(q => !q.Key.EndsWith("_error", StringComparison.Ordinal)).Sum(q => q.Value) == 0,
            errorQueues);
    }

    // The run's database, less the watcher's own transactions.
    private static double PipelineCommits(CounterSnapshot start, CounterSnapshot end, string sandbox) =>
        end.Commits.GetValueOrDefault(sandbox) - start.Commits.GetValueOrDefault(sandbox)
        - (end.WatcherTransactions - start.WatcherTransactions);

    private static double PipelineRedisCommands(CounterSnapshot start, CounterSnapshot end) =>
        end.RedisCommands - start.RedisCommands - (end.OwnRedisCommands - start.OwnRedisCommands);

    private static (double Published, double Delivered) Traffic(CounterSnapshot start, CounterSnapshot end, string sandbox)
    {
        var before = start.Traffic.GetValueOrDefault(sandbox);
        var after = end.Traffic.GetValueOrDefault(sandbox);
        return ((after?.Published ?? 0) - (before?.Published ?? 0), (after?.Delivered ?? 0) - (before?.Delivered ?? 0));
    }

    private static Interference Interference(CpuSnapshot start, CpuSnapshot end, CounterSnapshot counted, CounterSnapshot countedEnd, string sandbox)
    {
        var machine = end.Machine - start.Machine;
        var capacity = (double)Math.Max(1, machine.Total);
        var measured = end.Milliseconds.Sum(c => c.Value - start.Milliseconds.GetValueOrDefault(c.Key))
            + end.ExcludedMilliseconds.Sum(e => e.Value - start.ExcludedMilliseconds.GetValueOrDefault(e.Key))
            + (end.ClientMilliseconds - start.ClientMilliseconds);
        // Processes are charged with the interrupts they happen to be interrupted by, so both count as busy here.
        var busy = ProcFs.TicksToMilliseconds(machine.Processes + machine.Interrupts);
        var otherPercent = Math.Max(0, busy - measured) / ProcFs.TicksToMilliseconds((long)capacity) * 100;
        // Other databases and virtual hosts: the maintenance database is left out, since this program reads from it.
        var otherCommits = countedEnd.Commits
            .Where(d => d.Key != sandbox && d.Key != "postgres")
            .Sum(d => Math.Max(0, d.Value - counted.Commits.GetValueOrDefault(d.Key)));
        var otherPublishes = countedEnd.Traffic
            .Where(v => v.Key != sandbox)
            .Sum(v => Math.Max(0, v.Value.Published - (counted.Traffic.GetValueOrDefault(v.Key)?.Published ?? 0)));
        var stealPercent = machine.Steal / capacity * 100;
        return new Interference(
            Round(otherPercent, 1),
            Round(machine.Interrupts / capacity * 100, 1),
            Round(stealPercent, 1),
            otherCommits,
            otherPublishes,
            // Steal is time the host ran other guests on this machine's cores: their caches, and often its own sibling threads.
            otherPercent > DisturbedOtherCpuPercent || stealPercent > DisturbedOtherCpuPercent
            || otherCommits > DisturbedOtherCommits || otherPublishes > DisturbedOtherPublishes);
    }

    private static double Round(double value, int digits) => Math.Round(value, digits, MidpointRounding.AwayFromZero);
}
