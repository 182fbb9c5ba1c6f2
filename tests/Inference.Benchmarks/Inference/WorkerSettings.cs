using Inference.Engine.Registry;
using Inference.Orchestration.Protocol;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// How the benchmark reaches the worker and how it configures it, kept here so that a change of either is a change of
/// this file only.
/// </summary>
internal static class WorkerSettings
{
    /// <summary>
    /// The logger category whose Debug level turns on the engine's line per batch. Not the model class's own category
    /// (<c>Inference.Engine.Embeddings.SentenceEmbeddingModel</c>): the worker is started through <c>/bin/sh</c>, and
    /// dash drops environment variables whose names have dots. <c>Inference</c> covers it, and that batch line is the
    /// only Debug line under it.
    /// </summary>
    public const string BatchLogCategory = "Inference";

    /// <summary>The queue the worker takes <see cref="RunInference"/> for <paramref name="modelId"/> from: the model's own.</summary>
    public static Uri Address(string modelId) => new($"queue:{ProtocolEndpoints.WorkerFor(modelId)}");

    /// <summary>
    /// The settings, as environment variables, that turn batching off the way the worker served before it batched: one
    /// request at a time, with all the threads. Through the registry, as a deployment would: a <c>Models</c> entry for the
    /// bundled model with <c>max_batch_size</c> 1 and <c>concurrent_runs</c> 1.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Unbatched(string modelId) =>
        new Dictionary<string, string>(UnbatchedConcurrent(modelId), StringComparer.Ordinal) { ["Models__0__concurrent_runs"] = "1" };

    /// <summary>
    /// Batching off, but the other defaults kept: single-input runs, two at once (each with half the threads). What
    /// batching gains over requests run side by side rather than one after the other.
    /// </summary>
    public static IReadOnlyDictionary<string, string> UnbatchedConcurrent(string modelId) =>
        new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["Models__0__id"] = modelId,
            ["Models__0__task"] = "embedding",
            ["Models__0__path"] = ModelOptions.BundledMiniLm,
            ["Models__0__max_batch_size"] = "1",
        };

    /// <summary>
    /// The settings of the batched worker: the product's defaults, which are what is measured, and the engine's Debug
    /// line per batch, from which the batch sizes the worker achieved are read (one line per run, 25 to 50 a second here:
    /// too few to cost anything measurable).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Batched(string modelId) =>
        new Dictionary<string, string>(StringComparer.Ordinal) { [$"Logging__LogLevel__{BatchLogCategory}"] = "Debug" };
}
