namespace Inference.Orchestration;

/// <summary>
/// The codes a quota refusal ends a request with, one per plan window, and the plan limit each names. The quota
/// service reports the code; a message from before the codes existed names the limit instead, and is read the same.
/// </summary>
public static class QuotaRefusals
{
    private static readonly Dictionary<string, string> LimitOfCode = new(StringComparer.Ordinal)
    {
        [ErrorCodes.RateLimitRequests] = "requests_per_minute",
        [ErrorCodes.RateLimitTokens] = "tokens_per_minute",
        [ErrorCodes.QuotaDailyTokens] = "tokens_per_day",
        [ErrorCodes.QuotaMonthlyTokens] = "tokens_per_month",
        [ErrorCodes.ConcurrencyLimit] = "max_concurrent",
    };

    private static readonly Dictionary<string, string> CodeOfLimit =
        LimitOfCode.ToDictionary(x => x.Value, x => x.Key, StringComparer.Ordinal);

    /// <summary>Every refusal code.</summary>
    public static IReadOnlyCollection<string> Codes => LimitOfCode.Keys;

    /// <summary>True for the codes of <see cref="Codes"/>.</summary>
    public static bool IsRefusal(string? code) => code is not null && LimitOfCode.ContainsKey(code);

    /// <summary>The refusal code for a code or a plan limit's name (<c>tokens_per_day</c> gives <c>quota_daily_tokens</c>);
    /// anything else is a token rate limit, the window every plan had first.</summary>
    public static string CodeOf(string codeOrLimit) =>
        IsRefusal(codeOrLimit) ? codeOrLimit : CodeOfLimit.GetValueOrDefault(codeOrLimit, ErrorCodes.RateLimitTokens);

    /// <summary>The plan limit a refusal code names, e.g. <c>tokens_per_day</c>.</summary>
    public static string LimitOf(string code) => LimitOfCode.GetValueOrDefault(code, "tokens_per_minute");
}
