namespace Inference.Contracts;

/// <summary>Reply to <see cref="SubmitInference"/>: the request ended before inference (for example, over quota).</summary>
public sealed record InferenceRejected
{
    public required Guid InferenceId { get; init; }

    /// <summary>Stable machine-readable code, such as <c>quota_exceeded</c>.</summary>
    public required string Code { get; init; }

    public required string Message { get; init; }

    /// <summary>The limit that refused the request, such as <c>tokens_per_minute</c>, when a quota refused it.</summary>
    public string? Limit { get; init; }

    /// <summary>When retrying could succeed; null when it never can (the request alone exceeds the limit).</summary>
    public TimeSpan? RetryAfter { get; init; }
}
