namespace Inference.Contracts;

/// <summary>Reply to <see cref="SubmitInference"/>: quota is reserved and the request is queued for a worker.</summary>
public sealed record InferenceAccepted
{
    public required Guid InferenceId { get; init; }

    public required long ReservedTokens { get; init; }
}
