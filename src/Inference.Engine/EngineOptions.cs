using System.ComponentModel.DataAnnotations;

namespace Inference.Engine;

/// <summary>Settings of the inference engine, bound from the configuration section <c>Engine</c>.</summary>
public sealed class EngineOptions
{
    public const string SectionName = "Engine";

    /// <summary>
    /// Where models are extracted to before ONNX Runtime opens them. Shared safely by processes on one machine;
    /// defaults to <c>inference-models</c> under the OS temp directory.
    /// </summary>
    [Required]
    public string ModelCacheDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "inference-models");

    /// <summary>
    /// Where the packaged model files are found. Defaults to <c>models</c> beside the application, where the build
    /// copies them.
    /// </summary>
    [Required]
    public string ModelSourceDirectory { get; set; } = Path.Combine(AppContext.BaseDirectory, "models");

    /// <summary>
    /// Threads one model run may use, for models whose registry entry sets no <c>threads</c>. Defaults to the processor
    /// count, capped at 8: small encoders stop getting faster well before that, and the rest of the host needs cores too.
    /// </summary>
    [Range(1, 256)]
    public int IntraOpThreads { get; set; } = Math.Min(Environment.ProcessorCount, 8);

    /// <summary>
    /// How many inputs are run through a model at once, for models whose registry entry sets no <c>max_batch_size</c>;
    /// requests with more are split.
    /// </summary>
    [Range(1, 4096)]
    public int MaxBatchSize { get; set; } = 32;
}
