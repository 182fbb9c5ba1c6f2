namespace Inference.Contracts;

/// <summary>
/// Reply to <see cref="SubmitInference"/>: the request ended before inference. Refused at the door (for example
/// <c>model_not_found</c>, <c>input_too_long</c>, <c>tenant_not_found</c>, <c>request_exceeds_plan</c>) nothing is
/// stored; refused by the tenant's quota (<c>rate_limit_requests</c>, <c>rate_limit_tokens</c>,
/// <c>quota_daily_tokens</c>, <c>quota_monthly_tokens</c>, <c>concurrency_limit</c>) the request is stored as failed and
/// nothing is charged.
/// </summary>
public sealed record InferenceRejected
{
    public required Guid InferenceId { get; init; }

    /// <summary>Stable machine-readable code: the REST API's code for the same refusal.</summary>
    public required string Code { get; init; }

    public required string Message { get; init; }

    /// <summary>The plan limit that refused the request, such as <c>tokens_per_day</c>, when a quota refused it.</summary>
    public string? Limit { get; init; }

    /// <summary>That limit's value (tokens, requests per minute, or concurrent requests), when a quota refused it.</summary>
    public long? LimitValue { get; init; }

    /// <summary>What the limit's window held when the request was decided, when a quota refused it.</summary>
    public long? Used { get; init; }

    /// <summary>What the request asked of that window (its tokens, or 1 request), when a quota refused it.</summary>
    public long? Requested { get; init; }

    /// <summary>When retrying could succeed; null when it never can (the request alone exceeds the limit).</summary>
    public TimeSpan? RetryAfter { get; init; }
}
