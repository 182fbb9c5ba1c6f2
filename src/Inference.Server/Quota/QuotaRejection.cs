namespace Inference.Server.Quota;

/// <summary>Why a reservation was turned down, in the terms a 429 response needs.</summary>
/// <param name="Limit">The window that blocked the request.</param>
/// <param name="LimitTokens">That window's limit.</param>
/// <param name="RemainingTokens">Tokens still free in that window when the request was decided.</param>
/// <param name="RetryAfter">
/// Time from the decision until the blocking window resets, or <see langword="null"/> when the request alone is
/// larger than the limit and no amount of waiting lets it through (see <see cref="ExceedsLimit"/>).
/// </param>
public sealed record QuotaRejection(QuotaLimitKind Limit, long LimitTokens, long RemainingTokens, TimeSpan? RetryAfter)
{
    /// <summary>The stable snake_case code of <see cref="Limit"/>: <c>tokens_per_minute</c> or <c>tokens_per_day</c>.</summary>
    public string Code => Limit.ToCode();

    /// <summary>The request needs more tokens than the limit allows at all, so retrying it can never succeed.</summary>
    public bool ExceedsLimit => RetryAfter is null;
}
