using System.Globalization;
using Inference.Engine;

namespace Inference.Benchmarks.Inference;

/// <summary>The inference benchmark's command line.</summary>
/// <param name="Server">The published Inference.Server executable, run as the worker role.</param>
/// <param name="Output">Where the JSON goes.</param>
/// <param name="BatchSizes">The batch sizes tried for the raw figures; the best is reported.</param>
/// <param name="RawSeconds">How long each raw batch size is measured, after its warm-up.</param>
/// <param name="Rounds">How many times everything is measured, in turn (raw at every length and batch size, then each worker phase); each figure is its median round.</param>
/// <param name="WorkerSeconds">How long each worker phase is measured, after its warm-up.</param>
/// <param name="WarmupSeconds">Warm-up of each worker phase: JIT, ONNX Runtime's arena, the queues' steady state.</param>
/// <param name="InitialWarmupSeconds">Added to the warm-up of a fresh worker's first phase, which also compiles this process's path.</param>
/// <param name="InFlight">RunInference messages kept outstanding against the worker: enough to keep its batches full.</param>
/// <param name="GenerationSeconds">How long each generation concurrency is measured.</param>
/// <param name="MaxTokens">max_tokens of every generation.</param>
internal sealed record InferenceOptions(
    string Server,
    string Output,
    IReadOnlyList<int> BatchSizes,
    TimeSpan RawSeconds,
    int Rounds,
    TimeSpan WorkerSeconds,
    TimeSpan WarmupSeconds,
    TimeSpan InitialWarmupSeconds,
    int InFlight,
    TimeSpan GenerationSeconds,
    int MaxTokens)
{
    /// <summary>
    /// Requests outstanding by default: eight of the worker's batches. The bundled model's registry entry takes its
    /// <c>max_batch_size</c> from <c>Engine:MaxBatchSize</c> (32) when it sets none, and the worker holds a batch's worth
    /// for each of its concurrent runs (two) and one more; eight keeps as many again waiting in the queue and travelling.
    /// </summary>
    private static readonly int DefaultInFlight = 8 * new EngineOptions().MaxBatchSize;

    /// <summary>Every option: name, value, meaning and default.</summary>
    private static readonly (string Name, string Value, string Meaning, string Default)[] Known =
    [
        ("--server", "PATH", "the published Inference.Server executable", "required"),
        ("--output", "PATH", "the JSON to write", "artifacts/bench/inference.json"),
        ("--batch-sizes", "LIST", "batch sizes tried in-process", "1,8,16,32,64"),
        ("--raw-seconds", "S", "measured time per raw batch size and round", "2"),
        ("--rounds", "N", "times everything is measured, in turn", "3"),
        ("--worker-seconds", "S", "measured time per worker phase and round", "10"),
        ("--warmup-seconds", "S", "warm-up before each worker phase", "5"),
        ("--initial-warmup-seconds", "S", "added to a fresh worker's first warm-up", "10"),
        ("--in-flight", "N", "RunInference messages outstanding", $"{DefaultInFlight}: 8x the model's default max_batch_size"),
        ("--generation-seconds", "S", "measured time per generation concurrency", "10"),
        ("--max-tokens", "N", "max_tokens of each generation", "128"),
    ];

    public static string Usage { get; } = "options:\n"
        + string.Concat(Known.Select(o => $"  {o.Name + " " + o.Value,-26} {o.Meaning,-42} ({o.Default})\n"));

    /// <summary>The directory of the worker's logs, beside the JSON.</summary>
    public string LogDirectory => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(Output))!, "logs", "inference");

    /// <exception cref="UsageException">An option is unknown, missing or malformed.</exception>
    public static InferenceOptions Parse(string[] args)
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
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
                ? value
                : throw new UsageException($"{name} takes whole numbers of at least 1, not '{text}'");
        int Single(string name, int fallback) => Number(Text(name, fallback.ToString(CultureInfo.InvariantCulture)), name);
        TimeSpan Seconds(string name, int fallback) => TimeSpan.FromSeconds(Single(name, fallback));

        var server = Path.GetFullPath(Text("--server", null));
        if (!File.Exists(server))
            throw new UsageException($"no server at {server}: publish src/Inference.Server first (build/bench.sh does)");

        return new InferenceOptions(
            server,
            Text("--output", Path.Combine("artifacts", "bench", "inference.json")),
            [.. Text("--batch-sizes", "1,8,16,32,64").Split(',').Select(v => Number(v.Trim(), "--batch-sizes")).Distinct().Order()],
            Seconds("--raw-seconds", 2),
            Single("--rounds", 3),
            Seconds("--worker-seconds", 10),
            Seconds("--warmup-seconds", 5),
            Seconds("--initial-warmup-seconds", 10),
            Single("--in-flight", DefaultInFlight),
            Seconds("--generation-seconds", 10),
            Single("--max-tokens", 128));
    }
}
