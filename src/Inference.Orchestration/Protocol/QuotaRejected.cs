namespace Inference.Orchestration.Protocol;

public sealed record QuotaRejected
{
    public required Guid InferenceId { get; init; }

    /// <summary>The limit that refused the request: <c>tokens_per_minute</c> or <c>tokens_per_day</c>.</summary>
    public required string Limit { get; init; }

    public required long LimitValue { get; init; }

    public required long Remaining { get; init; }

    /// <summary>What the limit's window held when the request was decided (tokens, requests, or slots taken).</summary>
    public long Used { get; init; }

    /// <summary>What the request needed of that window: its tokens, or 1 for requests per minute and concurrency.</summary>
    public long Requested { get; init; }

    /// <summary>When the blocking window resets; null when the request alone exceeds the limit.</summary>
    public TimeSpan? RetryAfter { get; init; }
}
