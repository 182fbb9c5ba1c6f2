using System.Globalization;
using System.Text.RegularExpressions;

namespace Inference.Engine.Registry;

/// <summary>
/// Turns the <c>Models</c> section into <see cref="ModelSpec"/>s, filling in defaults, and says what is wrong with it.
/// Every failure names the entry (<c>Models:1 (distilgpt2)</c>) and the key, so a start that stops says what to fix.
/// </summary>
internal static partial class ModelRegistry
{
    /// <summary>How long the first input of a batch waits for others when <c>max_batch_delay_ms</c> is unset.</summary>
    public const int DefaultMaxBatchDelayMs = 2;

    /// <summary>
    /// Padded tokens per embedding run when the entry says nothing. Measured on 2 CPU cores (docs/performance.md):
    /// MiniLM at 128 tokens ran 56.9 inputs/s at batch 8 (1,024 tokens) against 49.9 at batch 32 (4,096), and at
    /// 16 tokens batch 32 (512) was the fastest; so 1,024 lets short inputs batch fully and keeps long ones at 8.
    /// </summary>
    public const int DefaultMaxBatchTokens = 1024;

    /// <summary>
    /// Runs at once of an embedding model on a CPU, unless its entry says otherwise: two, each with half the threads.
    /// On two cores two single-threaded runs served 10-20 % more 128-token inputs per second through the worker than one
    /// run with both threads, whose joins stall whenever the bus takes a core from one of them (docs/performance.md).
    /// </summary>
    public const int DefaultConcurrentRuns = 2;

    private const int ConcurrentRunsLimit = 64;

    /// <summary>The most tokens a generation may add when <c>max_output_tokens</c> is unset.</summary>
    public const int DefaultMaxOutputTokens = 256;

    public const string EmbeddingTask = "embedding";
    public const string TextGenerationTask = "text-generation";
    public const string Cpu = "cpu";
    public const string Cuda = "cuda";

    private const int MaxBatchSizeLimit = 4096;
    private const int MaxBatchDelayLimitMs = 10_000;
    private const int MaxBatchTokensLimit = 16 * 1024 * 1024;
    private const int MaxTokensLimit = 1_000_000;

    /// <summary>The bundled model's own limit (its model card's max_seq_length); it takes up to 512 positions.</summary>
    private const int BundledMaxInputTokens = 256;
    private const int BundledPositions = 512;
    private const int BundledDimensions = 384;

    /// <summary>
    /// The specs of <paramref name="entries"/>, or of the bundled model alone when there are none, and the failures;
    /// the specs are meaningful only when there is no failure.
    /// </summary>
    public static (IReadOnlyList<ModelSpec> Specs, IReadOnlyList<string> Failures) Resolve(
        EngineOptions engine, IList<ModelOptions> entries)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return ([Bundled(engine)], []);
        }

        var specs = new List<ModelSpec>();
        var failures = new List<string>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i] ?? new ModelOptions();
            var key = string.IsNullOrEmpty(entry.Id)
                ? string.Create(CultureInfo.InvariantCulture, $"Models:{i}")
                : string.Create(CultureInfo.InvariantCulture, $"Models:{i} ({entry.Id})");
            var entryFailures = new List<string>();
            void Fail(string message) => entryFailures.Add($"{key}: {message}");

            if (string.IsNullOrEmpty(entry.Id))
            {
                Fail("'id' is required");
            }
            else if (!IdPattern().IsMatch(entry.Id))
            {
                Fail($"'id' '{entry.Id}' must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64 characters (it names the worker's queue)");
            }
            else if (seen.TryGetValue(entry.Id, out var first))
            {
                Fail(string.Create(CultureInfo.InvariantCulture, $"'id' '{entry.Id}' is also the id of Models:{first}; ids must be unique"));
            }
            else
            {
                seen[entry.Id] = i;
            }

            ModelKind? kind = entry.Task switch
            {
                EmbeddingTask => ModelKind.Embedding,
                TextGenerationTask => ModelKind.TextGeneration,
                _ => null,
            };
            if (kind is null)
            {
                Fail(entry.Task is null
                    ? $"'task' is required: {EmbeddingTask} or {TextGenerationTask}"
                    : $"'task' '{entry.Task}' is not {EmbeddingTask} or {TextGenerationTask}");
            }

            var device = entry.Device ?? Cpu;
            if (device is not (Cpu or Cuda))
            {
                Fail($"'device' '{device}' is not {Cpu} or {Cuda}");
            }

            CheckRange(entry.MaxBatchSize, "max_batch_size", 1, MaxBatchSizeLimit, Fail);
            CheckRange(entry.MaxBatchDelayMs, "max_batch_delay_ms", 0, MaxBatchDelayLimitMs, Fail);
            CheckRange(entry.MaxBatchTokens, "max_batch_tokens", 1, MaxBatchTokensLimit, Fail);
            CheckRange(entry.Threads, "threads", 1, 256, Fail);
            CheckRange(entry.ConcurrentRuns, "concurrent_runs", 1, ConcurrentRunsLimit, Fail);
            CheckRange(entry.MaxInputTokens, "max_input_tokens", 1, MaxTokensLimit, Fail);
            if (string.IsNullOrWhiteSpace(entry.Publisher) && entry.Publisher is not null)
            {
                Fail("'publisher' must not be blank");
            }

            var bundled = entry.Path is { } path && path.StartsWith("bundled:", StringComparison.Ordinal);
            if (string.IsNullOrWhiteSpace(entry.Path))
            {
                Fail($"'path' is required: the ONNX file, or {ModelOptions.BundledMiniLm}");
            }
            else if (bundled)
            {
                CheckBundled(entry, kind, Fail);
            }
            else if (!File.Exists(entry.Path))
            {
                Fail($"'path' '{entry.Path}' does not exist");
            }

            var tokenizer = TokenizerKind.Bundled;
            if (!bundled)
            {
                tokenizer = CheckTokenizer(entry.Tokenizer, Fail);
                if (entry.MaxInputTokens is null)
                {
                    Fail("'max_input_tokens' is required");
                }
            }

            if (kind == ModelKind.Embedding)
            {
                if (!bundled)
                {
                    if (entry.Dimensions is null)
                    {
                        Fail("'dimensions' is required for an embedding model");
                    }

                    CheckRange(entry.Dimensions, "dimensions", 1, 65_536, Fail);
                    if (tokenizer is TokenizerKind.Gpt2)
                    {
                        Fail("'tokenizer' 'gpt2' cannot feed a BERT-family embedding model: use 'bert' or a WordPiece 'tokenizer-json'");
                    }
                }

                if (entry.MaxOutputTokens is not null)
                {
                    Fail("'max_output_tokens' applies to text-generation models only");
                }

                if (entry.EosToken is not null)
                {
                    Fail("'eos_token' applies to text-generation models only");
                }
            }
            else if (kind == ModelKind.TextGeneration)
            {
                if (entry.Dimensions is not null)
                {
                    Fail("'dimensions' applies to embedding models only");
                }

                if (entry.ConcurrentRuns is not null)
                {
                    Fail("'concurrent_runs' applies to embedding models only: a text-generation model runs one step at a time for all its sequences");
                }

                CheckRange(entry.MaxOutputTokens, "max_output_tokens", 1, MaxTokensLimit, Fail);
                if (entry.EosToken is { Length: 0 })
                {
                    Fail("'eos_token' must not be empty: a token such as <|endoftext|>, or its id");
                }
            }

            failures.AddRange(entryFailures);
            if (entryFailures.Count == 0)
            {
                var (threads, runs) = Parallelism(entry, kind!.Value, device, engine);
                specs.Add(bundled
                    ? Bundled(engine) with
                    {
                        Key = key,
                        Id = entry.Id!,
                        MaxInputTokens = entry.MaxInputTokens ?? BundledMaxInputTokens,
                        MaxBatchSize = entry.MaxBatchSize ?? engine.MaxBatchSize,
                        MaxBatchDelay = TimeSpan.FromMilliseconds(entry.MaxBatchDelayMs ?? DefaultMaxBatchDelayMs),
                        Device = device,
                        Threads = threads,
                        Publisher = entry.Publisher,
                        Published = entry.Published,
                        MaxBatchTokens = entry.MaxBatchTokens ?? DefaultMaxBatchTokens,
                        ConcurrentRuns = runs,
                    }
                    : new ModelSpec(
                        key, entry.Id!, kind!.Value, entry.Path, tokenizer, entry.Tokenizer?.Path, entry.Tokenizer?.LowerCase ?? true,
                        entry.MaxInputTokens!.Value, entry.MaxBatchSize ?? engine.MaxBatchSize,
                        TimeSpan.FromMilliseconds(entry.MaxBatchDelayMs ?? DefaultMaxBatchDelayMs), device,
                        threads, entry.Dimensions,
                        kind == ModelKind.TextGeneration ? entry.MaxOutputTokens ?? DefaultMaxOutputTokens : null,
                        entry.EosToken, entry.Publisher, entry.Published)
                    {
                        MaxBatchTokens = entry.MaxBatchTokens ?? DefaultMaxBatchTokens,
                        ConcurrentRuns = runs,
                    });
            }
        }

        return (specs, failures);
    }

    /// <summary>
    /// Threads per run and runs at once: as the entry sets them, else an embedding model on a CPU shares
    /// <c>Engine:IntraOpThreads</c> among <see cref="DefaultConcurrentRuns"/> runs (one run where there is a single
    /// thread), and every other model runs one at a time with all of them.
    /// </summary>
    private static (int Threads, int Runs) Parallelism(ModelOptions entry, ModelKind kind, string device, EngineOptions engine)
    {
        var runs = kind == ModelKind.Embedding
            ? entry.ConcurrentRuns ?? (device == Cpu && engine.IntraOpThreads >= 2 ? DefaultConcurrentRuns : 1)
            : 1;
        return (entry.Threads ?? Math.Max(1, engine.IntraOpThreads / runs), runs);
    }

    /// <summary>The bundled MiniLM as served when <c>Models</c> is empty: the <c>Engine</c> section's batch size and threads.</summary>
    private static ModelSpec Bundled(EngineOptions engine)
    {
        var (threads, runs) = Parallelism(new ModelOptions(), ModelKind.Embedding, Cpu, engine);
        return new ModelSpec(
            "Models (default)", Embeddings.AllMiniLmL6V2.Id, ModelKind.Embedding, Path: null, TokenizerKind.Bundled, TokenizerPath: null,
            LowerCase: true, BundledMaxInputTokens, engine.MaxBatchSize, TimeSpan.FromMilliseconds(DefaultMaxBatchDelayMs), Cpu,
            threads, BundledDimensions, MaxOutputTokens: null, EosToken: null, Publisher: null, Published: null)
        {
            ConcurrentRuns = runs,
        };
    }

    private static void CheckBundled(ModelOptions entry, ModelKind? kind, Action<string> fail)
    {
        if (entry.Path != ModelOptions.BundledMiniLm)
        {
            fail($"'path' '{entry.Path}' is not a bundled model: the only one is {ModelOptions.BundledMiniLm}");
            return;
        }

        if (kind is not null and not ModelKind.Embedding)
        {
            fail($"'task' '{entry.Task}' does not fit {ModelOptions.BundledMiniLm}, an embedding model");
        }

        if (entry.Tokenizer is not null)
        {
            fail($"'tokenizer' must not be set: {ModelOptions.BundledMiniLm} brings its own");
        }

        if (entry.Dimensions is { } dimensions && dimensions != BundledDimensions)
        {
            fail(string.Create(CultureInfo.InvariantCulture, $"'dimensions' {dimensions} does not match {ModelOptions.BundledMiniLm}, which has {BundledDimensions}"));
        }

        if (entry.MaxInputTokens is > BundledPositions)
        {
            fail(string.Create(CultureInfo.InvariantCulture, $"'max_input_tokens' {entry.MaxInputTokens} is more than {ModelOptions.BundledMiniLm} takes ({BundledPositions})"));
        }
    }

    private static TokenizerKind CheckTokenizer(ModelTokenizerOptions? tokenizer, Action<string> fail)
    {
        if (tokenizer is null)
        {
            fail("'tokenizer' is required: an object with 'kind' bert, gpt2 or tokenizer-json (and 'path' for bert and tokenizer-json)");
            return TokenizerKind.Bundled;
        }

        TokenizerKind? kind = tokenizer.Kind switch
        {
            "bert" => TokenizerKind.Bert,
            "gpt2" => TokenizerKind.Gpt2,
            "tokenizer-json" => TokenizerKind.TokenizerJson,
            _ => null,
        };
        if (kind is null)
        {
            fail(tokenizer.Kind is null
                ? "'tokenizer:kind' is required: bert, gpt2 or tokenizer-json"
                : $"'tokenizer:kind' '{tokenizer.Kind}' is not bert, gpt2 or tokenizer-json");
            return TokenizerKind.Bundled;
        }

        if (kind == TokenizerKind.Gpt2)
        {
            if (tokenizer.Path is not null)
            {
                fail("'tokenizer:path' must not be set for gpt2: its data is packaged");
            }
        }
        else if (string.IsNullOrWhiteSpace(tokenizer.Path))
        {
            fail($"'tokenizer:path' is required for {tokenizer.Kind}");
        }
        else if (!File.Exists(tokenizer.Path))
        {
            fail($"'tokenizer:path' '{tokenizer.Path}' does not exist");
        }

        return kind.Value;
    }

    private static void CheckRange(int? value, string key, int min, int max, Action<string> fail)
    {
        if (value is { } v && (v < min || v > max))
        {
            fail(string.Create(CultureInfo.InvariantCulture, $"'{key}' {v} is out of range: {min} to {max}"));
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();
}
