namespace Inference.Orchestration.Protocol;

public sealed record QuotaRejected
{
    public required Guid InferenceId { get; init; }

    /// <summary>The window that refused the request, as its refusal code (<see cref="QuotaRefusals.Codes"/>, e.g.
    /// <c>quota_daily_tokens</c>); a quota service from before the codes names the plan limit (<c>tokens_per_day</c>).</summary>
    public required string Limit { get; init; }

    /// <summary>The window's limit: tokens, requests per minute, or concurrent requests.</summary>
    public required long LimitValue { get; init; }

    public required long Remaining { get; init; }

    /// <summary>What the window held when the request was decided (tokens used and reserved, requests, or slots taken).</summary>
    public long Used { get; init; }

    /// <summary>What the request asked of the window: its tokens, or 1 for the requests and concurrency windows.</summary>
    public long Requested { get; init; }

    /// <summary>When the blocking window resets; null when the request alone exceeds the limit.</summary>
    public TimeSpan? RetryAfter { get; init; }
}
