namespace Inference.Contracts;

/// <summary>
/// Reply to <see cref="SubmitInference"/>: the request ended before inference. Refused at the door (for example
/// <c>model_not_found</c>, <c>input_too_long</c>, <c>tenant_not_found</c>) nothing is stored; over quota
/// (<c>quota_exceeded</c>) the request is stored as failed.
/// </summary>
public sealed record InferenceRejected
{
    public required Guid InferenceId { get; init; }

    /// <summary>Stable machine-readable code: the REST API's code for the same refusal.</summary>
    public required string Code { get; init; }

    public required string Message { get; init; }

    /// <summary>The limit that refused the request, such as <c>tokens_per_minute</c>, when a quota refused it.</summary>
    public string? Limit { get; init; }

    /// <summary>When retrying could succeed; null when it never can (the request alone exceeds the limit).</summary>
    public TimeSpan? RetryAfter { get; init; }
}
