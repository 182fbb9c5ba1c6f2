namespace Inference.Contracts;

/// <summary>Reply to <see cref="GetInferenceStatus"/> or <see cref="CancelInference"/>: no such request (or another
/// tenant's, or one deleted after its retention period).</summary>
public sealed record InferenceNotFound
{
    public required Guid InferenceId { get; init; }
}
