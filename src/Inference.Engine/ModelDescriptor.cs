namespace Inference.Engine;

/// <summary>What a caller needs to know about a model before using it: enough to list it and to validate a request.</summary>
/// <param name="Id">The catalogue id clients name in requests, lower-case, e.g. <c>all-minilm-l6-v2</c>.</param>
/// <param name="Kind">What the model produces.</param>
/// <param name="MaxInputTokens">
/// The most tokens one input may have, special tokens included. Longer inputs are rejected, never truncated.
/// </param>
/// <param name="Dimensions">The length of each embedding; <see langword="null"/> for models that do not embed.</param>
/// <param name="MaxBatchSize">
/// How many inputs go through the model in one run; a request with more inputs is run in several.
/// </param>
public sealed record ModelDescriptor(string Id, ModelKind Kind, int MaxInputTokens, int? Dimensions, int MaxBatchSize)
{
    /// <summary>
    /// When the model's file was published: a fixed date per model, the same in every process and after every restart,
    /// so that a listing (OpenAI's <c>created</c>) does not change from one replica to the next.
    /// </summary>
    public required DateTimeOffset Published { get; init; }

    /// <summary>Who published the model, e.g. <c>sentence-transformers</c> (OpenAI's <c>owned_by</c>).</summary>
    public required string Publisher { get; init; }

    /// <summary>
    /// Where the model's sessions run, as the engine chose it: <c>cpu</c> or <c>cuda</c>. A model configured for
    /// <c>cuda</c> says <c>cpu</c> where CUDA cannot load (the CPU build, no GPU, missing CUDA libraries); before its
    /// session exists, this is the device the process's build can offer.
    /// </summary>
    public required string Device { get; init; }

    /// <summary>The most tokens one generation may add; <see langword="null"/> for models that do not generate.</summary>
    public int? MaxOutputTokens { get; init; }

    /// <summary>
    /// How long a run waits for more work to batch with once it has some, at most; zero runs what has arrived at once.
    /// </summary>
    public TimeSpan MaxBatchDelay { get; init; }

    /// <summary>
    /// Embedding models: the most padded tokens (inputs x the longest input) one run may hold; a batch of long inputs
    /// is cut to fit (never below one input).
    /// </summary>
    public int MaxBatchTokens { get; init; } = int.MaxValue;

    /// <summary>
    /// Embedding models: how many batches run through the model at once, each on its own thread with the model's
    /// <c>threads</c>. A worker keeps this many batches in flight plus one gathering.
    /// </summary>
    public int ConcurrentRuns
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "At least one run at a time.");
    } = 1;

    /// <summary>The task clients see in a listing: <c>embedding</c> or <c>text-generation</c>.</summary>
    public string Task => Kind switch
    {
        ModelKind.Embedding => "embedding",
        ModelKind.TextGeneration => "text-generation",
        _ => throw new InvalidOperationException($"A model kind with no task name: {Kind}."),
    };
}
