using Inference.Server.Quota;

namespace Inference.Server.Tenants;

/// <summary>Section <c>Dev</c>: the development tenant <c>dev</c>.</summary>
public sealed class DevTenantOptions
{
    public const string Section = "Dev";

    /// <summary>When set, the tenant <c>dev</c> is seeded with exactly this key, in every mode (development and tests).
    /// In the embedded mode without it, a key is generated and printed at start.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Tokens per UTC calendar minute; 0 for no limit.</summary>
    public long TokensPerMinute { get; set; } = 1_000_000;

    /// <summary>Tokens per UTC calendar day; 0 for no limit.</summary>
    public long TokensPerDay { get; set; } = 100_000_000;

    /// <summary>Admitted requests per UTC calendar minute; absent for no limit.</summary>
    public long? RequestsPerMinute { get; set; }

    /// <summary>Tokens per UTC calendar month; absent for no limit.</summary>
    public long? TokensPerMonth { get; set; }

    /// <summary>Requests admitted and not yet final at one time; absent for no limit.</summary>
    public long? MaxConcurrent { get; set; }

    /// <summary>Inputs in one request; absent for no limit beyond <c>Api:MaxInputsPerRequest</c>.</summary>
    public long? MaxInputsPerRequest { get; set; }

    /// <summary>The plan these settings describe. The two token settings keep their old meaning of 0 (no limit), since
    /// configurations in use say so; the others are simply absent.</summary>
    public QuotaPlan Plan() => new()
    {
        RequestsPerMinute = RequestsPerMinute,
        TokensPerMinute = TokensPerMinute == 0 ? null : TokensPerMinute,
        TokensPerDay = TokensPerDay == 0 ? null : TokensPerDay,
        TokensPerMonth = TokensPerMonth,
        MaxConcurrent = MaxConcurrent,
        MaxInputsPerRequest = MaxInputsPerRequest,
    };
}
