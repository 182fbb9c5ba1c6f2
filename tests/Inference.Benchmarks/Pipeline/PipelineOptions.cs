using System.Globalization;

namespace Inference.Benchmarks.Pipeline;

/// <summary>The pipeline benchmark's command line.</summary>
/// <param name="Server">The published Inference.Server executable.</param>
/// <param name="Output">Where the JSON goes.</param>
/// <param name="Phases">The measured phases, in order.</param>
/// <param name="InitialWarmup">Requests before the idle baseline, at the highest concurrency: JIT, pools, caches.</param>
/// <param name="Baseline">How long the idle baseline is measured.</param>
/// <param name="Settle">
/// The quiet wait before each counter reading: PostgreSQL publishes an idle backend's last commits only after 10 s, and
/// RabbitMQ's management statistics arrive every 5 s.
/// </param>
/// <param name="WatchInterval">Between two queries of the watcher.</param>
/// <param name="ModelInputs">Inputs embedded one at a time to measure the model alone.</param>
/// <param name="Sentence">The one input of every request.</param>
/// <param name="RequestTimeout">How long a request may take to end before the run fails.</param>
internal sealed record PipelineOptions(
    string Server,
    string Output,
    IReadOnlyList<PhaseSettings> Phases,
    int InitialWarmup,
    TimeSpan Baseline,
    TimeSpan Settle,
    TimeSpan WatchInterval,
    int ModelInputs,
    string Sentence,
    TimeSpan RequestTimeout)
{
    /// <summary>17 tokens for all-MiniLM-L6-v2, [CLS] and [SEP] included; the run counts and reports them.</summary>
    public const string DefaultSentence = "The brown fox jumps over the lazy dog near the bank of the river.";

    /// <summary>Every option: name, value, meaning and default.</summary>
    private static readonly (string Name, string Value, string Meaning, string Default)[] Known =
    [
        ("--server", "PATH", "the published Inference.Server executable", "required"),
        ("--output", "PATH", "the JSON to write", "artifacts/bench/pipeline.json"),
        ("--concurrency", "LIST", "concurrent clients per phase", "1,16"),
        ("--requests", "LIST", "measured requests per phase", "200,500"),
        ("--warmup", "LIST", "warm-up requests before each phase", "30,100"),
        ("--initial-warmup", "N", "requests before the idle baseline", "200"),
        ("--baseline-seconds", "S", "length of the idle baseline", "10"),
        ("--settle-seconds", "S", "quiet wait before reading counters", "11"),
        ("--watch-interval-ms", "MS", "the watcher's query interval", "5"),
        ("--model-inputs", "N", "inputs embedded to time the model", "300"),
        ("--sentence", "TEXT", "the input of every request", "17 tokens"),
        ("--request-timeout-seconds", "S", "longest a request may take to end", "120"),
    ];

    public static string Usage { get; } = "options:\n"
        + string.Concat(Known.Select(o => $"  {o.Name + " " + o.Value,-28} {o.Meaning,-42} ({o.Default})\n"))
        + "A LIST is comma-separated, one value per phase; a single value applies to every phase.";

    /// <summary>The directory of the roles' logs, beside the JSON.</summary>
    public string LogDirectory => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(Output))!, "logs", "pipeline");

    /// <exception cref="UsageException">An option is unknown, missing or malformed.</exception>
    public static PipelineOptions Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!Known.Any(o => o.Name == args[i]))
                throw new UsageException($"unknown option '{args[i]}'{Environment.NewLine}{Usage}");
            if (i + 1 == args.Length)
                throw new UsageException($"{args[i]} needs a value");
            values[args[i]] = args[++i];
        }

        string Text(string name, string? fallback) => values.GetValueOrDefault(name) ?? fallback
            ?? throw new UsageException($"{name} is required{Environment.NewLine}{Usage}");
        int Number(string text, string name) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new UsageException($"{name} takes whole numbers, not '{text}'");
        int[] List(string name, string fallback) => [.. Text(name, fallback).Split(',').Select(v => Number(v.Trim(), name))];
        int Single(string name, int fallback) => Number(Text(name, fallback.ToString(CultureInfo.InvariantCulture)), name);

        var concurrency = List("--concurrency", "1,16");
        var requests = List("--requests", "200,500");
        var warmup = List("--warmup", "30,100");
        int At(int[] list, int phase, string name) => list.Length == 1 ? list[0]
            : list.Length == concurrency.Length ? list[phase]
            : throw new UsageException($"{name} needs one value, or one per concurrency ({concurrency.Length})");
        var phases = concurrency.Select((c, i) => new PhaseSettings(c, At(requests, i, "--requests"), At(warmup, i, "--warmup"))).ToList();
        if (phases.Any(p => p.Concurrency < 1 || p.Requests < 1))
            throw new UsageException("every phase needs a concurrency and a number of requests of at least 1");

        var server = Path.GetFullPath(Text("--server", null));
        if (!File.Exists(server))
            throw new UsageException($"no server at {server}: publish src/Inference.Server first (build/bench.sh does)");

        return new PipelineOptions(
            server,
            Text("--output", Path.Combine("artifacts", "bench", "pipeline.json")),
            phases,
            Single("--initial-warmup", 200),
            TimeSpan.FromSeconds(Single("--baseline-seconds", 10)),
            TimeSpan.FromSeconds(Single("--settle-seconds", 11)),
            TimeSpan.FromMilliseconds(Math.Max(1, Single("--watch-interval-ms", 5))),
            Math.Max(1, Single("--model-inputs", 300)),
            Text("--sentence", DefaultSentence),
            TimeSpan.FromSeconds(Single("--request-timeout-seconds", 120)));
    }
}

/// <param name="Concurrency">Clients sending at once, each waiting for its request to end before the next.</param>
/// <param name="Requests">Measured requests.</param>
/// <param name="Warmup">Requests at the same concurrency before them, not measured.</param>
internal sealed record PhaseSettings(int Concurrency, int Requests, int Warmup);
