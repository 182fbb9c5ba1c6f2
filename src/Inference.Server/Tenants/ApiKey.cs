namespace Inference.Server.Tenants;

/// <summary>A tenant's API key. Only its SHA-256 hash is stored; the key itself is shown once, when issued.</summary>
public sealed class ApiKey
{
    public const int MaxNameLength = 100;

    public const int PrefixLength = 7;

    public Guid Id { get; set; }

    public required string TenantId { get; set; }

    /// <summary>Lower-case hex SHA-256 of the key.</summary>
    public required string KeyHash { get; set; }

    /// <summary>The operator's label for the key (e.g. where it is used), at most <see cref="MaxNameLength"/> characters.</summary>
    public string? Name { get; set; }

    /// <summary>The key's first <see cref="PrefixLength"/> characters, kept so that an operator can tell keys apart
    /// without the key.</summary>
    public string? KeyPrefix { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>When the key stops working by itself; null for never.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }
}
