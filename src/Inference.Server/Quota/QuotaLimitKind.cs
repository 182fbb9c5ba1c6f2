namespace Inference.Server.Quota;

/// <summary>Which window of a <see cref="QuotaPlan"/> turned a reservation down.</summary>
public enum QuotaLimitKind
{
    RequestsPerMinute,
    TokensPerMinute,
    TokensPerDay,
    TokensPerMonth,
    Concurrency,
}

/// <summary>The stable snake_case codes that clients see for each <see cref="QuotaLimitKind"/>.</summary>
public static class QuotaLimitKindExtensions
{
    /// <summary>The code used in API problem details and stored in the ledger: it must never change.</summary>
    public static string ToCode(this QuotaLimitKind kind) => kind switch
    {
        QuotaLimitKind.RequestsPerMinute => "rate_limit_requests",
        QuotaLimitKind.TokensPerMinute => "rate_limit_tokens",
        QuotaLimitKind.TokensPerDay => "quota_daily_tokens",
        QuotaLimitKind.TokensPerMonth => "quota_monthly_tokens",
        QuotaLimitKind.Concurrency => "concurrency_limit",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    internal static QuotaLimitKind FromCode(string code) => code switch
    {
        "rate_limit_requests" => QuotaLimitKind.RequestsPerMinute,
        "rate_limit_tokens" => QuotaLimitKind.TokensPerMinute,
        "quota_daily_tokens" => QuotaLimitKind.TokensPerDay,
        "quota_monthly_tokens" => QuotaLimitKind.TokensPerMonth,
        "concurrency_limit" => QuotaLimitKind.Concurrency,
        // Written by the ledger before plans had five windows; such records live for the reservation retention.
        "tokens_per_minute" => QuotaLimitKind.TokensPerMinute,
        "tokens_per_day" => QuotaLimitKind.TokensPerDay,
        _ => throw new FormatException($"Unknown quota limit code '{code}'."),
    };
}
