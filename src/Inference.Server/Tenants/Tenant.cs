namespace Inference.Server.Tenants;

/// <summary>A customer account: its requests, keys and quota are its own.</summary>
public sealed class Tenant
{
    public required string Id { get; set; }

    public required string Name { get; set; }

    /// <summary>Tokens per UTC calendar minute; 0 means no limit.</summary>
    public long TokensPerMinute { get; set; }

    /// <summary>Tokens per UTC calendar day; 0 means no limit.</summary>
    public long TokensPerDay { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>When the tenant was disabled; null while it may submit.</summary>
    public DateTimeOffset? DisabledAt { get; set; }
}
