using System.Text.Json.Serialization;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// What <c>artifacts/bench/inference.json</c> holds: the figures at the top level, all from one run, then what
/// they were measured with. Serialized in snake case.
/// </summary>
internal sealed record InferenceReport
{
    public required string Benchmark { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public required double Seconds { get; init; }

    /// <summary>In-process, best batch size, inputs of exactly 16 tokens.</summary>
    [JsonPropertyName("raw_sentences_per_s_t16")]
    public required double RawSentencesPerST16 { get; init; }

    [JsonPropertyName("raw_sentences_per_s_t128")]
    public required double RawSentencesPerST128 { get; init; }

    /// <summary>Through RabbitMQ to the worker process, single-input requests, enough in flight to saturate it.</summary>
    [JsonPropertyName("worker_sentences_per_s_t16")]
    public required double WorkerSentencesPerST16 { get; init; }

    [JsonPropertyName("worker_sentences_per_s_t128")]
    public required double WorkerSentencesPerST128 { get; init; }

    /// <summary>The same with batching off: batch size 1, one request at a time, as the worker served before it batched.</summary>
    [JsonPropertyName("unbatched_worker_sentences_per_s_t16")]
    public required double UnbatchedWorkerSentencesPerST16 { get; init; }

    /// <summary>Batching off but two single-input runs at once (each with half the threads), the worker's other defaults.</summary>
    [JsonPropertyName("unbatched_concurrent_worker_sentences_per_s_t16")]
    public required double UnbatchedConcurrentWorkerSentencesPerST16 { get; init; }

    /// <summary>The batched worker's peak resident set (VmHWM) after its phases: model loaded, under load.</summary>
    [JsonPropertyName("worker_rss_mib")]
    public required double WorkerRssMib { get; init; }

    /// <summary>The test decoder's tokens/s; null when it could not be measured, and <see cref="GenerationNote"/> says why.</summary>
    [JsonPropertyName("generation_tokens_per_s_b1")]
    public required double? GenerationTokensPerSB1 { get; init; }

    [JsonPropertyName("generation_tokens_per_s_b8")]
    public required double? GenerationTokensPerSB8 { get; init; }

    public required string? GenerationNote { get; init; }

    public required RawFigures Raw { get; init; }

    /// <summary>Each worker phase's median round (by sentences/s), whose figure is the one at the top.</summary>
    public required IReadOnlyDictionary<string, WorkerPhaseFigures> Worker { get; init; }

    /// <summary>Every round of each worker phase, in the order measured.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<WorkerPhaseFigures>> WorkerRounds { get; init; }

    public required double UnbatchedWorkerRssMib { get; init; }

    public required IReadOnlyDictionary<string, double?> Ratios { get; init; }

    /// <summary>
    /// The targets' ratios within each round (the raw figure of that round at the best batch size overall): what the
    /// host's drift from round to round does to them.
    /// </summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<double?>> RoundRatios { get; init; }

    public required IReadOnlyList<TargetCheck> Targets { get; init; }

    public required MachineSummary Machine { get; init; }

    public required IReadOnlyList<string> Warnings { get; init; }
}

/// <param name="Model">The model's id.</param>
/// <param name="IntraOpThreads">ONNX Runtime threads per run, as the worker has them by default.</param>
/// <param name="BatchSizeT16">The batch size that gave <c>raw_sentences_per_s_t16</c>.</param>
/// <param name="BatchSizeT128">Likewise at 128 tokens.</param>
/// <param name="SentencesPerSecond">Every batch size tried, by input length ("t16", "t128") then batch size: the median of its rounds.</param>
/// <param name="OtherCpuPercent">The machine's CPU used by other processes while each was measured (the worst round), in % of all cores.</param>
/// <param name="SecondsPerBatchSize">How long each was measured in each round.</param>
/// <param name="Rounds">How many times every length and batch size was measured, one after the other.</param>
/// <param name="Samples">Each round's figure, in the order measured, by length then batch size.</param>
internal sealed record RawFigures(
    string Model,
    int IntraOpThreads,
    int BatchSizeT16,
    int BatchSizeT128,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> SentencesPerSecond,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> OtherCpuPercent,
    double SecondsPerBatchSize,
    int Rounds,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, IReadOnlyList<double>>> Samples);

/// <param name="Name">What is compared, e.g. <c>worker_t128 / raw_t128</c>.</param>
/// <param name="Target">The target, as text.</param>
/// <param name="Value">The measured value; null when not measured.</param>
/// <param name="Pass">Whether the value meets the target; null when not measured.</param>
internal sealed record TargetCheck(string Name, string Target, double? Value, bool? Pass);

/// <param name="Cores">Logical processors this process sees.</param>
/// <param name="Cpu">The processor's model name.</param>
/// <param name="Runtime">The .NET runtime.</param>
internal sealed record MachineSummary(int Cores, string Cpu, string Runtime);
