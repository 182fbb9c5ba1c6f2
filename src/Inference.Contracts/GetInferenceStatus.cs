namespace Inference.Contracts;

/// <summary>
/// Asks where a request stands. Send it as a request to <see cref="InferenceEndpoints.OrchestratorAddress"/>: answered
/// with <see cref="InferenceStatus"/>, or <see cref="InferenceNotFound"/> for an unknown id (or another tenant's, when
/// <see cref="TenantId"/> is given).
/// </summary>
public sealed record GetInferenceStatus
{
    public required Guid InferenceId { get; init; }

    /// <summary>When set, only this tenant's request is found.</summary>
    public string? TenantId { get; init; }
}
