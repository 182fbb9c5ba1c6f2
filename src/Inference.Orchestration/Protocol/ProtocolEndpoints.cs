namespace Inference.Orchestration.Protocol;

/// <summary>
/// Queue names of the platform's own roles, between which the saga's protocol runs. Integrators never send here: they
/// use <see cref="Contracts.InferenceEndpoints"/>.
/// </summary>
public static class ProtocolEndpoints
{
    /// <summary>Quota reservations (<see cref="ReserveQuota"/>).</summary>
    public const string Quota = "inference-quota";

    /// <summary>Quota settlements and releases (<see cref="SettleQuota"/>, <see cref="ReleaseQuota"/>).</summary>
    public const string QuotaSettlements = "inference-quota-settlements";

    /// <summary>
    /// The queue of the model workers that serve <paramref name="modelId"/> (<see cref="RunInference"/>):
    /// <c>inference-worker-{modelId}</c>. One queue per model, so that workers serving different models (a GPU
    /// deployment, a CPU one) scale apart on their own queue's length, and the saga routes each request by its model.
    /// </summary>
    /// <param name="modelId">The catalogue id, as the request names it.</param>
    public static string WorkerFor(string modelId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        return WorkerPrefix + modelId;
    }

    /// <summary>What every model's worker queue starts with (see <see cref="WorkerFor"/>).</summary>
    public const string WorkerPrefix = "inference-worker-";

    /// <summary>
    /// The single worker queue of the releases before queues per model. Workers still drain it for one release,
    /// forwarding each <see cref="RunInference"/> to its model's queue; nothing sends here any more.
    /// </summary>
    public const string LegacyWorker = "inference-worker";

    /// <summary>Result storage (<see cref="StoreResult"/>).</summary>
    public const string Results = "inference-results";
}
