namespace Inference.Server.Quota;

/// <summary>Which window of <see cref="QuotaLimits"/> turned a reservation down.</summary>
public enum QuotaLimitKind
{
    TokensPerMinute,
    TokensPerDay,
}

/// <summary>The stable snake_case codes that clients see for each <see cref="QuotaLimitKind"/>.</summary>
public static class QuotaLimitKindExtensions
{
    /// <summary>The code used in API problem details and stored in the ledger: it must never change.</summary>
    public static string ToCode(this QuotaLimitKind kind) => kind switch
    {
        QuotaLimitKind.TokensPerMinute => "tokens_per_minute",
        QuotaLimitKind.TokensPerDay => "tokens_per_day",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    internal static QuotaLimitKind FromCode(string code) => code switch
    {
        "tokens_per_minute" => QuotaLimitKind.TokensPerMinute,
        "tokens_per_day" => QuotaLimitKind.TokensPerDay,
        _ => throw new FormatException($"Unknown quota limit code '{code}'."),
    };
}
