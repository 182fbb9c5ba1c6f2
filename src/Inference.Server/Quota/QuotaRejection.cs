namespace Inference.Server.Quota;

/// <summary>Why a reservation was turned down, in the terms a 429 response needs.</summary>
/// <param name="Limit">The window that blocked the request.</param>
/// <param name="LimitValue">That window's limit (tokens, requests or concurrent requests).</param>
/// <param name="Used">
/// What the window held when the request was decided: settled plus reserved tokens for a token window, requests made
/// this minute, or concurrency slots taken.
/// </param>
/// <param name="Requested">What the request needed of that window: its tokens, or 1 for requests and concurrency.</param>
/// <param name="RetryAfter">
/// Time from the decision until the blocking window resets (a fixed hint for concurrency), or
/// <see langword="null"/> when the request alone is larger than the limit and no amount of waiting lets it through
/// (see <see cref="ExceedsLimit"/>).
/// </param>
public sealed record QuotaRejection(QuotaLimitKind Limit, long LimitValue, long Used, long Requested, TimeSpan? RetryAfter)
{
    /// <summary>The stable snake_case code of <see cref="Limit"/> (see <see cref="QuotaLimitKindExtensions.ToCode"/>).</summary>
    public string Code => Limit.ToCode();

    /// <summary>The request needs more than the limit allows at all, so retrying it can never succeed.</summary>
    public bool ExceedsLimit => RetryAfter is null;
}
