namespace Inference.Server.Tenants;

/// <summary>Section <c>Dev</c>: the development tenant <c>dev</c>.</summary>
public sealed class DevTenantOptions
{
    public const string Section = "Dev";

    /// <summary>When set, the tenant <c>dev</c> is seeded with exactly this key, in every mode (development and tests).
    /// In the embedded mode without it, a key is generated and printed at start.</summary>
    public string? ApiKey { get; set; }

    public long TokensPerMinute { get; set; } = 1_000_000;

    public long TokensPerDay { get; set; } = 100_000_000;
}
