using Inference.Orchestration.Protocol;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// How the benchmark reaches the worker and how it configures it: the two things the model registry and per-model
/// worker queues change, kept here so that adapting to them is a change of this file only.
/// </summary>
internal static class WorkerSettings
{
    /// <summary>
    /// The queue the worker takes <see cref="RunInference"/> for <paramref name="modelId"/> from. ADAPT AFTER THE MERGE:
    /// each model gets a queue of its own, <c>inference-worker-{modelId}</c>; use
    /// <c>ProtocolEndpoints.WorkerFor(modelId)</c> here once it exists.
    /// </summary>
    public static Uri Address(string modelId) => new($"queue:{ProtocolEndpoints.WorkerFor(modelId)}");

    /// <summary>
    /// The settings, as environment variables, that make the worker run every request alone: batching off. ADAPT AFTER
    /// THE MERGE: once the registry lands, the batch size is the model entry's <c>max_batch_size</c> (a <c>Models</c>
    /// entry for <paramref name="modelId"/>) rather than <c>Engine:MaxBatchSize</c>.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Unbatched(string modelId) =>
        new Dictionary<string, string>(StringComparer.Ordinal) { ["Engine__MaxBatchSize"] = "1" };

    /// <summary>The settings of the batched worker: none, the product's defaults are what is measured.</summary>
    public static IReadOnlyDictionary<string, string> Batched(string modelId) =>
        new Dictionary<string, string>(StringComparer.Ordinal);
}
