using Microsoft.Extensions.Configuration;

namespace Inference.Engine.Registry;

/// <summary>
/// One entry of the <c>Models</c> configuration section: a model this deployment serves. Keys are snake_case, as in
/// docs/models.md, e.g. <c>Models:0:max_input_tokens</c> or <c>Models__0__max_input_tokens</c>.
/// </summary>
public sealed class ModelOptions
{
    /// <summary>The source that names the model packaged with the engine instead of a file.</summary>
    public const string BundledMiniLm = "bundled:all-minilm-l6-v2";

    /// <summary>
    /// The id clients name, lower-case <c>[a-z0-9._-]</c>: it also names the worker's queue for the model
    /// (<c>inference-worker-{id}</c>), where upper case and other characters are not portable.
    /// </summary>
    [ConfigurationKeyName("id")]
    public string? Id { get; set; }

    /// <summary><c>embedding</c> or <c>text-generation</c>.</summary>
    [ConfigurationKeyName("task")]
    public string? Task { get; set; }

    /// <summary>The ONNX file, or <see cref="BundledMiniLm"/> for the model packaged with the engine.</summary>
    [ConfigurationKeyName("path")]
    public string? Path { get; set; }

    /// <summary>The tokenizer the model was trained with; the bundled model brings its own.</summary>
    [ConfigurationKeyName("tokenizer")]
    public ModelTokenizerOptions? Tokenizer { get; set; }

    /// <summary>The most tokens one input may have, special tokens included; required but for the bundled model (256).</summary>
    [ConfigurationKeyName("max_input_tokens")]
    public int? MaxInputTokens { get; set; }

    /// <summary>Inputs (embedding) or sequences (generation) per model run; defaults to <c>Engine:MaxBatchSize</c>.</summary>
    [ConfigurationKeyName("max_batch_size")]
    public int? MaxBatchSize { get; set; }

    /// <summary>
    /// How long the first input of a batch waits for others, in milliseconds; defaults to
    /// <see cref="ModelRegistry.DefaultMaxBatchDelayMs"/>. Zero runs what has arrived at once.
    /// </summary>
    [ConfigurationKeyName("max_batch_delay_ms")]
    public int? MaxBatchDelayMs { get; set; }

    /// <summary>
    /// Embedding models: the most padded tokens (inputs x the longest) in one run; defaults to
    /// <see cref="ModelRegistry.DefaultMaxBatchTokens"/>. Long inputs then run in smaller batches, which on a CPU are
    /// faster per input and hold less memory; raise it on a GPU.
    /// </summary>
    [ConfigurationKeyName("max_batch_tokens")]
    public int? MaxBatchTokens { get; set; }

    /// <summary><c>cpu</c> (the default) or <c>cuda</c>; <c>cuda</c> falls back to the CPU, with a warning, where it cannot load.</summary>
    [ConfigurationKeyName("device")]
    public string? Device { get; set; }

    /// <summary>
    /// ONNX Runtime intra-op threads for one run of this model. Defaults to <c>Engine:IntraOpThreads</c> shared among the
    /// model's <see cref="ConcurrentRuns"/> (at least one each): all of them for a text-generation model.
    /// </summary>
    [ConfigurationKeyName("threads")]
    public int? Threads { get; set; }

    /// <summary>
    /// Embedding models: batches run through the model at once, each on its own thread with <see cref="Threads"/>
    /// threads. Defaults to <see cref="ModelRegistry.DefaultConcurrentRuns"/> on a CPU with <c>Engine:IntraOpThreads</c> of
    /// two or more, else one; one on <c>cuda</c>.
    /// </summary>
    [ConfigurationKeyName("concurrent_runs")]
    public int? ConcurrentRuns { get; set; }

    /// <summary>Embedding length; required for an embedding model from a file, and checked against its output at load.</summary>
    [ConfigurationKeyName("dimensions")]
    public int? Dimensions { get; set; }

    /// <summary>The most tokens one generation may add (text-generation); defaults to <see cref="ModelRegistry.DefaultMaxOutputTokens"/>.</summary>
    [ConfigurationKeyName("max_output_tokens")]
    public int? MaxOutputTokens { get; set; }

    /// <summary>
    /// The end-of-sequence token (text-generation): a token as text, e.g. <c>&lt;|endoftext|&gt;</c>, which the tokenizer
    /// must map to one id, or the id itself. Unset: generation ends only at a stop string or the token limit.
    /// </summary>
    [ConfigurationKeyName("eos_token")]
    public string? EosToken { get; set; }

    /// <summary>Who published the model (OpenAI's <c>owned_by</c>); defaults to <c>unknown</c>.</summary>
    [ConfigurationKeyName("publisher")]
    public string? Publisher { get; set; }

    /// <summary>When the model was published (OpenAI's <c>created</c>); defaults to the Unix epoch so every replica agrees.</summary>
    [ConfigurationKeyName("published")]
    public DateTimeOffset? Published { get; set; }
}

/// <summary>The <c>tokenizer</c> object of a <see cref="ModelOptions"/> entry.</summary>
public sealed class ModelTokenizerOptions
{
    /// <summary>
    /// <c>bert</c> (a WordPiece <c>vocab.txt</c> at <see cref="Path"/>), <c>gpt2</c> (GPT-2's byte-level BPE, packaged; no
    /// path) or <c>tokenizer-json</c> (a Hugging Face <c>tokenizer.json</c> at <see cref="Path"/>).
    /// </summary>
    [ConfigurationKeyName("kind")]
    public string? Kind { get; set; }

    /// <summary>The tokenizer's file, for the kinds that read one.</summary>
    [ConfigurationKeyName("path")]
    public string? Path { get; set; }

    /// <summary>
    /// Whether a <c>bert</c> vocabulary is uncased (lower-case and strip accents before tokenizing); defaults to true,
    /// as for most sentence-transformers models.
    /// </summary>
    [ConfigurationKeyName("lower_case")]
    public bool? LowerCase { get; set; }
}
