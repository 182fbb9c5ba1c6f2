namespace Inference.Contracts;

/// <summary>Reply to <see cref="SubmitInference"/>: quota is reserved and the request is queued for a worker.</summary>
public sealed record InferenceAccepted
{
    public required Guid InferenceId { get; init; }

    /// <summary>The tokens held for the request until it ends; it is charged what it really used.</summary>
    public required long ReservedTokens { get; init; }
}
