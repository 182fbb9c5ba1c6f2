using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Inference.Benchmarks.Measurement;
using Inference.Benchmarks.Pipeline;
using Inference.Benchmarks.Services;
using StackExchange.Redis;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// What the model costs and what the worker makes of it: the model called in this process at its best batch size, the
/// worker role as its own process fed single-input requests through RabbitMQ (batched, then with a batch size of 1), its
/// peak memory, and the decode throughput of a text-generation model. docs/performance.md explains the figures.
/// </summary>
internal sealed class InferenceBenchmark : IBenchmark
{
    /// <summary>Distinct sentences per length, cycled through: enough that no batch repeats one.</summary>
    private const int SentencesPerLength = 512;

    /// <summary>
    /// Above this share of the machine's CPU going to other work, or taken by the hypervisor for other guests, a figure is
    /// flagged as disturbed.
    /// </summary>
    private const double DisturbedOtherCpuPercent = 10;

    public string Name => "inference";

    public string Description => "sentences/s of the model in-process and of the worker through RabbitMQ, batched and not; decode tokens/s";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = InferenceOptions.Parse(args);
        var startedAt = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var warnings = new List<string>();
        const string modelId = RawThroughput.ModelId;

        // The decoder runs in this process before any worker exists: nothing else on the machine meanwhile.
        Step("generation: the test decoder in this process, 1 and 8 concurrent requests");
        var (generationB1, generationB8, generationNote) = await MeasureGenerationAsync(options, cancellationToken).ConfigureAwait(false);

        var services = ServiceAddresses.FromEnvironment();
        using var rabbit = new RabbitMqManagement(services.RabbitMqManagement);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(services.Redis).ConfigureAwait(false);
        // Two workers, each in a sandbox of its own (virtual host, database), so that both can stay up for the whole run and
        // neither takes the other's requests; the one not measured idles.
        await using var batchedSandbox = await Sandbox.CreateAsync(services, rabbit, redis, cancellationToken, "inference").ConfigureAwait(false);
        await using var unbatchedSandbox = await Sandbox.CreateAsync(services, rabbit, redis, cancellationToken, "inference_unbatched").ConfigureAwait(false);
        await using var batchedDriver = await WorkerDriver.StartAsync(batchedSandbox.RabbitMq, cancellationToken).ConfigureAwait(false);
        await using var concurrentSandbox = await Sandbox.CreateAsync(services, rabbit, redis, cancellationToken, "inference_unbatched_concurrent").ConfigureAwait(false);
        await using var unbatchedDriver = await WorkerDriver.StartAsync(unbatchedSandbox.RabbitMq, cancellationToken).ConfigureAwait(false);
        await using var concurrentDriver = await WorkerDriver.StartAsync(concurrentSandbox.RabbitMq, cancellationToken).ConfigureAwait(false);
        // The broker's CPU is the path's, not other work's; a pid of another machine or container means nothing here.
        var (brokerPid, _) = await rabbit.ReadNodeAsync(cancellationToken).ConfigureAwait(false);
        int? rabbitMqPid = brokerPid is { } pid && ProcFs.Read(pid) is { } broker && broker.Name.StartsWith("beam", StringComparison.Ordinal) ? pid : null;

        using var raw = await RawThroughput.CreateAsync(options.BatchSizes.Max(), cancellationToken).ConfigureAwait(false);
        var intraOpThreads = raw.IntraOpThreads;
        var sentences = new Dictionary<int, IReadOnlyList<string>>
        {
            [16] = ExactLengthSentences.Build(raw.Model, 16, SentencesPerLength),
            [128] = ExactLengthSentences.Build(raw.Model, 128, SentencesPerLength),
        };

        Step(Invariant($"start the workers: batched (the product's defaults, {batchedSandbox.Name}), unbatched (one request at a time, {unbatchedSandbox.Name}) and unbatched with two runs at once ({concurrentSandbox.Name})"));
        await using var batched = await StartWorkerAsync(options, batchedSandbox, "batched", WorkerSettings.Batched(modelId), cancellationToken).ConfigureAwait(false);
        await using var unbatched = await StartWorkerAsync(options, unbatchedSandbox, "unbatched", WorkerSettings.Unbatched(modelId), cancellationToken).ConfigureAwait(false);
        await using var unbatchedConcurrent = await StartWorkerAsync(options, concurrentSandbox, "unbatched-concurrent", WorkerSettings.UnbatchedConcurrent(modelId), cancellationToken)
            .ConfigureAwait(false);
        var batchedLog = WorkerLog(options, "batched");

        var phaseRounds = new Dictionary<string, List<WorkerPhaseFigures>>(StringComparer.Ordinal);
        async Task PhaseAsync(string name, WorkerDriver driver, RoleProcesses worker, string? workerLog, int tokens, bool first)
        {
            // A fresh worker, and this process the first time, compile their paths and size their buffers while the first
            // phase warms up: it is given longer.
            var warmup = first ? options.WarmupSeconds + options.InitialWarmupSeconds : options.WarmupSeconds;
            Step(Invariant($"{name}: {tokens}-token single-input requests, {options.InFlight} in flight, {warmup.TotalSeconds:F0} s warm-up, {options.WorkerSeconds.TotalSeconds:F0} s measured"));
            var figures = await driver.RunAsync(modelId, sentences[tokens], options.InFlight, warmup, options.WorkerSeconds,
                worker.Pid("worker"), rabbitMqPid, workerLog, cancellationToken).ConfigureAwait(false);
            (phaseRounds.TryGetValue(name, out var rounds) ? rounds : phaseRounds[name] = []).Add(figures);
            Detail(Invariant($"{figures.SentencesPerSecond:F1} sentences/s; send to reply p50 {figures.LatencyP50Ms:F0} ms, p95 {figures.LatencyP95Ms:F0} ms; ") +
                Invariant($"CPU per sentence: worker {figures.WorkerCpuMsPerSentence:F2} ms, driver {figures.ClientCpuMsPerSentence:F2} ms, rabbitmq {figures.RabbitMqCpuMsPerSentence:F2} ms; ") +
                Invariant($"machine {figures.MachineBusyPercent:F0}% busy, {figures.OtherCpuPercent:F0}% elsewhere, {figures.StealPercent:F0}% stolen"));
            if (figures.Batches is { } batches)
                Detail(Invariant($"{batches.Runs} model runs, {batches.MeanInputs:F1} inputs per run on average (median {batches.P50Inputs}, largest {batches.MaxInputs}, {batches.FullRuns:F0}% at the largest), {batches.MeanRunMs:F1} ms a run"));
            if (figures.OtherCpuPercent > DisturbedOtherCpuPercent)
                warnings.Add(Invariant($"{name}, round {phaseRounds[name].Count}, ran while {figures.OtherCpuPercent:F0}% of the machine's CPU went to other work"));
            if (figures.StealPercent > DisturbedOtherCpuPercent)
                warnings.Add(Invariant($"{name}, round {phaseRounds[name].Count}, ran while the hypervisor took {figures.StealPercent:F0}% of the machine's CPU"));
            if (figures.FailureCount > 0)
                warnings.Add(Invariant($"{name}: {figures.FailureCount} requests failed: {string.Join("; ", figures.Failures)}"));
        }

        // Rounds: every round measures the model raw at every length and batch size, then each worker phase, so that a
        // slower or faster spell of the host (this one's speed drifts by tens of percent over minutes) falls on the raw and
        // the worker figures alike instead of on whichever was measured while it lasted. Each figure is its median round.
        var rawSamples = new Dictionary<int, Dictionary<int, List<RawPoint>>>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            Step(Invariant($"round {round} of {options.Rounds}: raw, {modelId} in this process, batch sizes {string.Join(", ", options.BatchSizes)}, inputs of 16 and 128 tokens"));
            foreach (var (tokens, pool) in sentences)
            {
                var bySize = rawSamples.TryGetValue(tokens, out var known) ? known : rawSamples[tokens] = [];
                foreach (var batchSize in options.BatchSizes)
                {
                    var point = await raw.MeasureAsync(pool, batchSize, options.RawSeconds, cancellationToken).ConfigureAwait(false);
                    (bySize.TryGetValue(batchSize, out var points) ? points : bySize[batchSize] = []).Add(point);
                    Detail(Invariant($"{tokens} tokens, batch {batchSize}: {point.SentencesPerSecond:F1} sentences/s, {1000.0 * batchSize / point.SentencesPerSecond:F1} ms a batch, {point.CpuMsPerSentence:F2} ms CPU each ({point.OtherCpuPercent:F0}% of the machine elsewhere, {point.StealPercent:F0}% stolen)"));
                }
            }

            await PhaseAsync("worker_t16", batchedDriver, batched, batchedLog, 16, first: round == 1).ConfigureAwait(false);
            await PhaseAsync("worker_t128", batchedDriver, batched, batchedLog, 128, first: false).ConfigureAwait(false);
            await PhaseAsync("unbatched_worker_t16", unbatchedDriver, unbatched, workerLog: null, 16, first: round == 1).ConfigureAwait(false);
            await PhaseAsync("unbatched_concurrent_worker_t16", concurrentDriver, unbatchedConcurrent, workerLog: null, 16, first: round == 1).ConfigureAwait(false);
        }

        var workerRss = PeakRssMib(batched.Pid("worker"));
        var unbatchedRss = PeakRssMib(unbatched.Pid("worker"));
        Detail(Invariant($"peak RSS: batched worker {workerRss:F1} MiB, unbatched worker {unbatchedRss:F1} MiB"));

        var rawBySize = rawSamples.ToDictionary(t => t.Key, t => t.Value.ToDictionary(b => b.Key, b => Math.Round(MedianOf(b.Value, p => p.SentencesPerSecond).SentencesPerSecond, 1)));
        var rawOther = rawSamples.ToDictionary(t => t.Key, t => t.Value.ToDictionary(b => b.Key, b => Math.Round(b.Value.Max(p => p.OtherCpuPercent), 1)));
        var best = rawBySize.ToDictionary(t => t.Key, t => t.Value.MaxBy(b => b.Value));
        Detail(Invariant($"raw, median of {options.Rounds} rounds: best {best[16].Value:F1}/s at 16 tokens (batch {best[16].Key}), {best[128].Value:F1}/s at 128 tokens (batch {best[128].Key}); {intraOpThreads} intra-op threads"));
        foreach (var (tokens, sizes) in rawSamples)
        {
            foreach (var (batchSize, points) in sizes)
            {
                foreach (var (point, round) in points.Select((p, i) => (p, i + 1)))
                {
                    if (point.OtherCpuPercent > DisturbedOtherCpuPercent)
                        warnings.Add(Invariant($"raw at {tokens} tokens, batch {batchSize}, round {round}, ran while {point.OtherCpuPercent:F0}% of the machine's CPU went to other work"));
                    if (point.StealPercent > DisturbedOtherCpuPercent)
                        warnings.Add(Invariant($"raw at {tokens} tokens, batch {batchSize}, round {round}, ran while the hypervisor took {point.StealPercent:F0}% of the machine's CPU"));
                }
            }
        }

        var phases = phaseRounds.ToDictionary(p => p.Key, p => MedianOf(p.Value, f => f.SentencesPerSecond), StringComparer.Ordinal);
        var workerT16 = phases["worker_t16"].SentencesPerSecond;
        var workerT128 = phases["worker_t128"].SentencesPerSecond;
        var unbatchedT16 = phases["unbatched_worker_t16"].SentencesPerSecond;
        var unbatchedConcurrentT16 = phases["unbatched_concurrent_worker_t16"].SentencesPerSecond;
        var workerToRawT128 = Ratio(workerT128, best[128].Value);
        var batchedToUnbatched = Ratio(workerT16, unbatchedT16);
        var report = new InferenceReport
        {
            Benchmark = Name,
            StartedAt = startedAt,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
            RawSentencesPerST16 = best[16].Value,
            RawSentencesPerST128 = best[128].Value,
            WorkerSentencesPerST16 = workerT16,
            WorkerSentencesPerST128 = workerT128,
            UnbatchedWorkerSentencesPerST16 = unbatchedT16,
            UnbatchedConcurrentWorkerSentencesPerST16 = unbatchedConcurrentT16,
            WorkerRssMib = workerRss,
            GenerationTokensPerSB1 = generationB1,
            GenerationTokensPerSB8 = generationB8,
            GenerationNote = generationNote,
            Raw = new RawFigures(modelId, intraOpThreads, best[16].Key, best[128].Key,
                rawBySize.ToDictionary(
                    t => Invariant($"t{t.Key}"),
                    t => (IReadOnlyDictionary<string, double>)t.Value.ToDictionary(b => b.Key.ToString(CultureInfo.InvariantCulture), b => b.Value),
                    StringComparer.Ordinal),
                rawOther.ToDictionary(
                    t => Invariant($"t{t.Key}"),
                    t => (IReadOnlyDictionary<string, double>)t.Value.ToDictionary(b => b.Key.ToString(CultureInfo.InvariantCulture), b => b.Value),
                    StringComparer.Ordinal),
                options.RawSeconds.TotalSeconds,
                options.Rounds,
                rawSamples.ToDictionary(
                    t => Invariant($"t{t.Key}"),
                    t => (IReadOnlyDictionary<string, IReadOnlyList<double>>)t.Value.ToDictionary(
                        b => b.Key.ToString(CultureInfo.InvariantCulture),
                        b => (IReadOnlyList<double>)[.. b.Value.Select(p => Math.Round(p.SentencesPerSecond, 1))]),
                    StringComparer.Ordinal)),
            Worker = phases,
            WorkerRounds = phaseRounds.ToDictionary(p => p.Key, p => (IReadOnlyList<WorkerPhaseFigures>)p.Value, StringComparer.Ordinal),
            UnbatchedWorkerRssMib = unbatchedRss,
            Ratios = new Dictionary<string, double?>(StringComparer.Ordinal)
            {
                ["worker_to_raw_t128"] = workerToRawT128,
                ["worker_to_raw_t16"] = Ratio(workerT16, best[16].Value),
                ["batched_to_unbatched_t16"] = batchedToUnbatched,
                ["batched_to_unbatched_concurrent_t16"] = Ratio(workerT16, unbatchedConcurrentT16),
                ["generation_b8_to_b1"] = generationB1 is { } b1 && generationB8 is { } b8 ? Ratio(b8, b1) : null,
            },
            RoundRatios = new Dictionary<string, IReadOnlyList<double?>>(StringComparer.Ordinal)
            {
                ["worker_to_raw_t128"] = [.. phaseRounds["worker_t128"].Select((p, i) => Ratio(p.SentencesPerSecond, rawSamples[128][best[128].Key][i].SentencesPerSecond))],
                ["batched_to_unbatched_t16"] = [.. phaseRounds["worker_t16"].Select((p, i) => Ratio(p.SentencesPerSecond, phaseRounds["unbatched_worker_t16"][i].SentencesPerSecond))],
                ["batched_to_unbatched_concurrent_t16"] =
                    [.. phaseRounds["worker_t16"].Select((p, i) => Ratio(p.SentencesPerSecond, phaseRounds["unbatched_concurrent_worker_t16"][i].SentencesPerSecond))],
            },
            Targets =
            [
                Check("worker_t128 / raw_t128", ">= 0.90", workerToRawT128, v => v >= 0.90),
                Check("worker_t16 / unbatched_worker_t16", ">= 2.0", batchedToUnbatched, v => v >= 2.0),
                Check("worker_rss_mib", "<= 400", workerRss, v => v <= 400),
            ],
            Machine = Machine(),
            Warnings = warnings,
        };

        await BenchReport.WriteAsync(options.Output, report, cancellationToken).ConfigureAwait(false);
        Console.WriteLine();
        InferenceTable.Write(Console.Out, report, options);
        Console.WriteLine();
        Console.WriteLine(Invariant($"wrote {options.Output} ({clock.Elapsed.TotalSeconds:F0} s)"));
        foreach (var warning in warnings)
            Console.WriteLine($"warning: {warning}");

        // Figures of a run in which requests failed describe another path through the worker: not comparable.
        return phases.Values.All(p => p.FailureCount == 0) ? 0 : 1;
    }

    /// <summary>Tokens per second at 1 and 8 concurrent requests, or nulls and the reason when there is no decoder to measure.</summary>
    private static async Task<(double? B1, double? B8, string? Note)> MeasureGenerationAsync(InferenceOptions options, CancellationToken cancellationToken)
    {
        var (decoder, missing) = GenerationThroughput.CreateTestDecoder();
        if (decoder is null)
        {
            Detail($"not measured: {missing}");
            return (null, null, $"not measured: {missing}");
        }

        using (decoder.Owner)
        {
            var b1 = await GenerationThroughput.MeasureAsync(decoder.Model, decoder.Prompt, 1, options.MaxTokens, options.GenerationSeconds, cancellationToken)
                .ConfigureAwait(false);
            Detail(Invariant($"1 request: {b1:F1} tokens/s"));
            var b8 = await GenerationThroughput.MeasureAsync(decoder.Model, decoder.Prompt, 8, options.MaxTokens, options.GenerationSeconds, cancellationToken)
                .ConfigureAwait(false);
            Detail(Invariant($"8 requests: {b8:F1} tokens/s"));
            return (Math.Round(b1, 1), Math.Round(b8, 1), null);
        }
    }

    /// <summary>The published server as the worker role alone, its log in a folder named after <paramref name="flavour"/>.</summary>
    private static Task<RoleProcesses> StartWorkerAsync(InferenceOptions options, Sandbox sandbox, string flavour,
        IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken) =>
        RoleProcesses.StartAsync(options.Server, sandbox, Path.Combine(options.LogDirectory, flavour), cancellationToken, ["worker"], environment);

    /// <summary>The log of the worker started as <paramref name="flavour"/> (<see cref="RoleProcesses"/> names it after the role).</summary>
    private static string WorkerLog(InferenceOptions options, string flavour) => Path.Combine(options.LogDirectory, flavour, "worker.log");

    /// <summary>The process's peak resident set so far (<c>VmHWM</c>), in MiB.</summary>
    private static double PeakRssMib(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        // "VmHWM:    123456 kB"
        var kib = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        return Math.Round(kib / 1024.0, 1);
    }

    private static TargetCheck Check(string name, string target, double? value, Func<double, bool> meets) =>
        new(name, target, value, value is { } measured ? meets(measured) : null);

    /// <summary>The item whose <paramref name="figure"/> is the median: of an even count, the lower of the middle two.</summary>
    private static T MedianOf<T>(IReadOnlyCollection<T> items, Func<T, double> figure) => items.OrderBy(figure).ElementAt((items.Count - 1) / 2);

    private static double? Ratio(double value, double reference) => reference > 0 ? Math.Round(value / reference, 3) : null;

    private static MachineSummary Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        return new MachineSummary(Environment.ProcessorCount, cpu ?? "unknown", RuntimeInformation.FrameworkDescription);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static void Step(string text) => Console.WriteLine($"==> {text}");

    private static void Detail(string text) => Console.WriteLine($"    {text}");
}
