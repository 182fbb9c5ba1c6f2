using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using Inference.Benchmarks.Measurement;
using Inference.Benchmarks.Services;
using StackExchange.Redis;

namespace Inference.Benchmarks.Pipeline;

/// <summary>
/// The cost of one request through the whole pipeline: the three roles as separate processes on PostgreSQL, RabbitMQ
/// and Redis, driven at a fixed concurrency. Reports per request the CPU time of every process involved, messages,
/// commits and Redis commands, beside the model's own CPU time for the same input. docs/performance.md explains it.
/// </summary>
internal sealed class PipelineBenchmark : IBenchmark
{
    public string Name => "pipeline";

    public string Description => "CPU, messages and commits per request through api, orchestrator and worker processes";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = PipelineOptions.Parse(args);
        var services = ServiceAddresses.FromEnvironment();
        var startedAt = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var warnings = new List<string>();

        Step($"model: {options.ModelInputs} inputs, one at a time, in this process");
        var model = await ModelCost.MeasureAsync(options.Sentence, options.ModelInputs, cancellationToken).ConfigureAwait(false);
        Detail($"{model.Tokens} tokens; {model.CpuMsPerInput:F2} ms CPU and {model.WallMsPerInput:F2} ms elapsed per input ({model.IntraOpThreads} intra-op threads)");
        if (model.OtherCpuPercent > PipelineFigures.DisturbedOtherCpuPercent)
            warnings.Add($"the model was timed while {model.OtherCpuPercent:F1}% of the machine's CPU went to other work: its figure is not reliable");

        using var rabbit = new RabbitMqManagement(services.RabbitMqManagement);
        var redisOptions = ConfigurationOptions.Parse(services.Redis);
        // INFO, for the command count and the server's pid, is an admin command to StackExchange.Redis.
        redisOptions.AllowAdmin = true;
        await using var redis = await ConnectionMultiplexer.ConnectAsync(redisOptions).ConfigureAwait(false);
        await using var counters = await ServiceCounters.OpenAsync(services, rabbit, redis, cancellationToken).ConfigureAwait(false);
        await using var sandbox = await Sandbox.CreateAsync(services, rabbit, redis, cancellationToken).ConfigureAwait(false);

        Step($"start orchestrator, worker, api ({sandbox.Name})");
        await using var roles = await RoleProcesses.StartAsync(options.Server, sandbox, options.LogDirectory, cancellationToken).ConfigureAwait(false);
        await using var watcher = await FinalStateWatcher.OpenAsync(sandbox.PostgresConnectionString, options.WatchInterval, cancellationToken).ConfigureAwait(false);
        var measured = new MeasuredProcesses(
            new Dictionary<string, int?>(StringComparer.Ordinal)
            {
                ["api"] = roles.Pid("api"),
                ["orchestrator"] = roles.Pid("orchestrator"),
                ["worker"] = roles.Pid("worker"),
                ["postgresql"] = counters.PostmasterPid,
                ["rabbitmq"] = counters.RabbitMqPid,
                ["redis"] = counters.RedisPid,
            },
            new Dictionary<string, int>(StringComparer.Ordinal) { ["postgresql"] = watcher.BackendPid });
        foreach (var component in measured.Roots.Where(r => r.Value is null).Select(r => r.Key))
            warnings.Add($"{component} does not run on this machine: its CPU time is not measured");
        Detail(string.Join(", ", measured.Roots.Select(r => $"{r.Key} {r.Value?.ToString(CultureInfo.InvariantCulture) ?? "not here"}")));

        using var api = new HttpClient { BaseAddress = roles.ApiUrl, Timeout = TimeSpan.FromMinutes(1) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", sandbox.ApiKey);
        var driver = new LoadDriver(api, watcher, options.Sentence, options.RequestTimeout);
        var settlement = new QuotaSettlement(redis, sandbox, counters);

        async Task<IReadOnlyList<RequestOutcome>> LoadAsync(int concurrency, int requests)
        {
            var outcomes = await driver.RunAsync(concurrency, requests, cancellationToken).ConfigureAwait(false);
            await settlement.WaitAsync(outcomes, cancellationToken).ConfigureAwait(false);
            return outcomes;
        }

        async Task WarmUpAsync(int concurrency, int requests)
        {
            watcher.Start();
            var outcomes = await LoadAsync(concurrency, requests).ConfigureAwait(false);
            await watcher.StopAsync(cancellationToken).ConfigureAwait(false);
            if (outcomes.FirstOrDefault(o => !o.Completed) is { } failed)
                throw new InvalidOperationException($"A warm-up request did not complete ({failed.Failure}); see the logs in {options.LogDirectory}.");
            // The counters are read only once PostgreSQL and RabbitMQ have published everything the warm-up did, and the
            // CPU only once the roles have finished compiling what it made hot.
            var roleProcesses = RoleProcesses.Roles.Select(roles.Pid).ToList();
            if (!await Rest.WaitAsync(roleProcesses, options.Settle, TimeSpan.FromMinutes(2), cancellationToken).ConfigureAwait(false))
                warnings.Add($"the roles were still busy 2 minutes after the warm-up at concurrency {concurrency}");
        }

        var highest = options.Phases.Max(p => p.Concurrency);
        Step($"initial warm-up: {options.InitialWarmup} requests at concurrency {highest}, then at least {options.Settle.TotalSeconds:F0} s quiet");
        await WarmUpAsync(highest, options.InitialWarmup).ConfigureAwait(false);

        Step($"idle baseline: {options.Baseline.TotalSeconds:F0} s, watcher on");
        var counted = await counters.ReadAsync(watcher.Transactions, cancellationToken).ConfigureAwait(false);
        watcher.Start();
        var start = CpuSnapshot.Take(measured);
        await Task.Delay(options.Baseline, cancellationToken).ConfigureAwait(false);
        var end = CpuSnapshot.Take(measured);
        await watcher.StopAsync(cancellationToken).ConfigureAwait(false);
        var countedEnd = await counters.ReadAsync(watcher.Transactions, cancellationToken).ConfigureAwait(false);
        var baseline = PipelineFigures.Baseline(start, end, counted, countedEnd, sandbox.Name);
        Detail("CPU ms/s " + string.Join(", ", baseline.CpuMsPerSecond.Select(c => $"{c.Key} {c.Value:F2}")));

        var phases = new List<PhaseFigures>();
        foreach (var phase in options.Phases)
        {
            Step($"concurrency {phase.Concurrency}: {phase.Warmup} warm-up, {phase.Requests} measured requests");
            await WarmUpAsync(phase.Concurrency, phase.Warmup).ConfigureAwait(false);
            counted = await counters.ReadAsync(watcher.Transactions, cancellationToken).ConfigureAwait(false);
            watcher.Start();
            start = CpuSnapshot.Take(measured);
            var outcomes = await LoadAsync(phase.Concurrency, phase.Requests).ConfigureAwait(false);
            end = CpuSnapshot.Take(measured);
            await watcher.StopAsync(cancellationToken).ConfigureAwait(false);
            await Task.Delay(options.Settle, cancellationToken).ConfigureAwait(false);
            countedEnd = await counters.ReadAsync(watcher.Transactions, cancellationToken).ConfigureAwait(false);
            var queues = await rabbit.ReadQueueDepthsAsync(sandbox.Name, cancellationToken).ConfigureAwait(false);
            var figures = PipelineFigures.Phase(phase, outcomes, start, end, counted, countedEnd, baseline, model, sandbox.Name, queues);
            phases.Add(figures);
            Detail($"{figures.RequestsPerSecond:F1} requests/s, submit to final p50 {figures.SubmitToFinalMs.P50:F0} ms, " +
                $"{figures.CpuMsPerRequest.Total:F2} ms CPU per request");
        }

        warnings.AddRange(Warnings(baseline, phases));
        var report = new PipelineReport(
            Name,
            startedAt,
            Math.Round(clock.Elapsed.TotalSeconds, 1),
            await GitStateAsync(cancellationToken).ConfigureAwait(false),
            Machine(),
            counters.Versions,
            new PipelineSettings(options.Sentence, model.Tokens, 1, options.Phases, options.InitialWarmup,
                options.Baseline.TotalSeconds, options.Settle.TotalSeconds, options.WatchInterval.TotalMilliseconds),
            model,
            baseline,
            phases,
            warnings);

        await BenchReport.WriteAsync(options.Output, report, cancellationToken).ConfigureAwait(false);
        Console.WriteLine();
        PipelineTable.Write(Console.Out, report);
        Console.WriteLine();
        Console.WriteLine($"wrote {options.Output} ({clock.Elapsed.TotalSeconds:F0} s)");
        foreach (var warning in warnings)
            Console.WriteLine($"warning: {warning}");

        // Figures of a run in which requests failed describe another path through the system: not comparable.
        return phases.All(p => p.Completed == p.Requests && p.ErrorQueues.Count == 0) ? 0 : 1;
    }

    private static IEnumerable<string> Warnings(BaselineFigures baseline, IReadOnlyList<PhaseFigures> phases)
    {
        if (baseline.Interference.Disturbed)
            yield return $"the idle baseline was disturbed by other work ({Describe(baseline.Interference)})";
        foreach (var phase in phases)
        {
            if (phase.Interference.Disturbed)
                yield return $"concurrency {phase.Concurrency} was disturbed by other work ({Describe(phase.Interference)}): its CPU figures are not reliable";
            if (phase.Completed != phase.Requests)
                yield return $"concurrency {phase.Concurrency}: {phase.Requests - phase.Completed} requests did not complete: " +
                    string.Join(", ", phase.Failures.Select(f => $"{f.Key} {f.Value}"));
            if (phase.ErrorQueues.Count > 0)
                yield return $"concurrency {phase.Concurrency}: messages in {string.Join(", ", phase.ErrorQueues)}";
            if (!phase.QueuesDrained)
                yield return $"concurrency {phase.Concurrency}: queues still held messages when the counters were read";
        }
    }

    private static string Describe(Interference interference) => string.Create(CultureInfo.InvariantCulture,
        $"{interference.OtherCpuPercent:F1}% of the machine's CPU elsewhere, {interference.StealPercent:F1}% stolen by the host, " +
        $"{interference.OtherDatabaseCommits} commits in other databases, {interference.OtherVhostPublishes} messages in other virtual hosts");

    private static MachineInfo Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : RuntimeInformation.OSDescription;
        return new MachineInfo(Environment.ProcessorCount, cpu ?? "unknown", kernel, RuntimeInformation.FrameworkDescription, ProcFs.TicksPerSecond);
    }

    private static async Task<GitState> GitStateAsync(CancellationToken cancellationToken)
    {
        var commit = await GitAsync(["rev-parse", "HEAD"], cancellationToken).ConfigureAwait(false);
        var changes = await GitAsync(["status", "--porcelain", "--untracked-files=no"], cancellationToken).ConfigureAwait(false);
        return new GitState(commit?.Trim(), changes is null ? null : changes.Trim().Length > 0);
    }

    private static async Task<string?> GitAsync(string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        try
        {
            using var git = Process.Start(start)!;
            var output = await git.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
            await git.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            return git.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No git on this machine: the report says so with a null commit.
            return null;
        }
    }

    private static void Step(string text) => Console.WriteLine($"==> {text}");

    private static void Detail(string text) => Console.WriteLine($"    {text}");
}
