namespace Inference.Contracts;

/// <summary>
/// Cancels a request that has not ended: it becomes canceled, its reservation is released in full, a model run in
/// progress for it is stopped, and a result that arrives later is discarded and never charged. Send it to
/// <see cref="InferenceEndpoints.OrchestratorAddress"/>, as a command or as a request: answered with the
/// <see cref="InferenceStatus"/> it now has, <see cref="CancelInferenceRejected"/> when it had already ended (nothing
/// changes), or <see cref="InferenceNotFound"/>.
/// </summary>
public sealed record CancelInference
{
    public required Guid InferenceId { get; init; }

    /// <summary>When set, only this tenant's request is canceled; another's is not found.</summary>
    public string? TenantId { get; init; }
}
