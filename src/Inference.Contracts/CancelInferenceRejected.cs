namespace Inference.Contracts;

/// <summary>Reply to <see cref="CancelInference"/>: the request had already ended (code <c>inference_final</c>), and
/// nothing changed.</summary>
public sealed record CancelInferenceRejected
{
    public required Guid InferenceId { get; init; }

    public required string Code { get; init; }

    public required string Message { get; init; }

    /// <summary>The request as it stands.</summary>
    public required InferenceStatus Status { get; init; }
}
