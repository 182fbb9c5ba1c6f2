using System.Text.Json.Serialization;

namespace Inference.Benchmarks.Pipeline;

/// <summary>What <c>artifacts/bench/pipeline.json</c> holds. docs/performance.md explains each figure.</summary>
internal sealed record PipelineReport(
    string Benchmark,
    DateTimeOffset Timestamp,
    double DurationSeconds,
    GitState Git,
    MachineInfo Machine,
    IReadOnlyDictionary<string, string> ServiceVersions,
    PipelineSettings Settings,
    ModelFigures Model,
    BaselineFigures Baseline,
    IReadOnlyList<PhaseFigures> Phases,
    IReadOnlyList<string> Warnings);

/// <param name="Commit">HEAD of the measured tree.</param>
/// <param name="Dirty">Whether tracked files differed from that commit.</param>
internal sealed record GitState(string? Commit, bool? Dirty);

internal sealed record MachineInfo(int Cores, string CpuModel, string Kernel, string Runtime, long ClockTicksPerSecond);

internal sealed record PipelineSettings(
    string Sentence,
    int Tokens,
    int InputsPerRequest,
    IReadOnlyList<PhaseSettings> Phases,
    int InitialWarmup,
    double BaselineSeconds,
    double SettleSeconds,
    double WatchIntervalMs);

/// <summary>The idle system, with the watcher running: what is subtracted from every phase.</summary>
/// <param name="Seconds">How long it was measured.</param>
/// <param name="CpuMsPerSecond">CPU milliseconds per second of each component at rest.</param>
/// <param name="ClientCpuMsPerSecond">This program at rest, watcher included.</param>
/// <param name="CommitsPerSecond">Commits in the run's database (the orchestrator's deadline sweeps), the watcher's excluded.</param>
/// <param name="PublishedPerSecond">Messages published into the run's virtual host.</param>
/// <param name="DeliveredPerSecond">Messages delivered from it.</param>
/// <param name="RedisCommandsPerSecond">Redis commands from every client but this program.</param>
/// <param name="Interference">Signs of other work during the baseline.</param>
internal sealed record BaselineFigures(
    double Seconds,
    IReadOnlyDictionary<string, double> CpuMsPerSecond,
    double ClientCpuMsPerSecond,
    double CommitsPerSecond,
    double PublishedPerSecond,
    double DeliveredPerSecond,
    double RedisCommandsPerSecond,
    Interference Interference)
{
    /// <summary>The rates unrounded, for the subtraction.</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, double> CpuRates { get; init; } = new Dictionary<string, double>();
}

/// <summary>One measured phase. Per-request figures are over the measured requests, idle baseline subtracted.</summary>
/// <param name="Concurrency">Clients sending at once.</param>
/// <param name="Requests">Measured requests.</param>
/// <param name="Completed">Of those, the ones that completed.</param>
/// <param name="Failures">Requests that did not complete, by HTTP status or saga error code.</param>
/// <param name="Seconds">From the first request sent to the last one's final state.</param>
/// <param name="RequestsPerSecond">Requests over <paramref name="Seconds"/>.</param>
/// <param name="SubmitToFinalMs">From sending the POST to the saga's updated_at in its final state.</param>
/// <param name="PostMs">From sending the POST to its answer (the API waits for the quota decision).</param>
/// <param name="CpuMsPerRequest">CPU time per request by component.</param>
/// <param name="MessagesPublishedPerRequest">Messages published into the run's virtual host (RabbitMQ's publish count).</param>
/// <param name="MessagesDeliveredPerRequest">Messages delivered to consumers (deliver_get), redeliveries included.</param>
/// <param name="CommitsPerRequest">Committed transactions in the run's database (xact_commit), the watcher's excluded.</param>
/// <param name="RedisCommandsPerRequest">Redis commands, this program's own excluded.</param>
/// <param name="WindowSeconds">The CPU window: from the first request sent until the last quota settlement was seen.</param>
/// <param name="Interference">Signs of other work during the phase.</param>
/// <param name="QueuesDrained">Whether the run's queues were empty when the counters were read.</param>
/// <param name="ErrorQueues">The run's <c>_error</c> queues, which exist only if a message failed.</param>
internal sealed record PhaseFigures(
    int Concurrency,
    int Requests,
    int Completed,
    IReadOnlyDictionary<string, int> Failures,
    double Seconds,
    double RequestsPerSecond,
    Percentiles SubmitToFinalMs,
    Percentiles PostMs,
    CpuPerRequest CpuMsPerRequest,
    double MessagesPublishedPerRequest,
    double MessagesDeliveredPerRequest,
    double CommitsPerRequest,
    double RedisCommandsPerRequest,
    double WindowSeconds,
    Interference Interference,
    bool QueuesDrained,
    IReadOnlyList<string> ErrorQueues);

/// <summary>CPU milliseconds per request, idle baseline subtracted. A service not on this machine is null.</summary>
/// <param name="Api">The api process.</param>
/// <param name="Orchestrator">The orchestrator process.</param>
/// <param name="Worker">The worker process, the model's run included.</param>
/// <param name="Postgresql">Every PostgreSQL process, ended backends included, the watcher's backend excluded.</param>
/// <param name="Rabbitmq">The broker's beam.smp and its children.</param>
/// <param name="Redis">The Redis server.</param>
/// <param name="Total">The six components together.</param>
/// <param name="BeyondModel">Total less the model's own CPU for the request's input: what the pipeline adds.</param>
/// <param name="Client">This program (load, watcher, drain checks), idle baseline not subtracted; not part of the total.</param>
/// <param name="Watcher">The watcher's PostgreSQL backend; taken out of postgresql, not part of the total.</param>
internal sealed record CpuPerRequest(
    double? Api,
    double? Orchestrator,
    double? Worker,
    double? Postgresql,
    double? Rabbitmq,
    double? Redis,
    double Total,
    double BeyondModel,
    double Client,
    double Watcher);

/// <summary>Signs that something besides this run used the machine or the shared services during a window.</summary>
/// <param name="OtherCpuPercent">Machine CPU not charged to any measured process, in % of all cores.</param>
/// <param name="InterruptCpuPercent">Interrupt handling (loopback networking among it), in % of all cores; informational.</param>
/// <param name="StealPercent">Time the hypervisor gave to other guests while this one had work, in % of all cores.</param>
/// <param name="OtherDatabaseCommits">Commits in other databases of the PostgreSQL server.</param>
/// <param name="OtherVhostPublishes">Messages published into other virtual hosts of the broker.</param>
/// <param name="Disturbed">True when any of these suggests the figures were moved by other work.</param>
internal sealed record Interference(
    double OtherCpuPercent,
    double InterruptCpuPercent,
    double StealPercent,
    long OtherDatabaseCommits,
    long OtherVhostPublishes,
    bool Disturbed);

internal sealed record Percentiles(double P50, double P99, double Max)
{
    /// <summary>Nearest-rank percentiles, in the unit of the values.</summary>
    public static Percentiles Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
            return new Percentiles(double.NaN, double.NaN, double.NaN);
        double At(double p) => Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)], 1);
        return new Percentiles(At(0.50), At(0.99), Math.Round(sorted[^1], 1));
    }
}
