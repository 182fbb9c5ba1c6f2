namespace Inference.Server.Tenants;

/// <summary>A tenant's API key. Only its SHA-256 hash is stored; the key itself is shown once, when issued.</summary>
public sealed class ApiKey
{
    public Guid Id { get; set; }

    public required string TenantId { get; set; }

    /// <summary>Lower-case hex SHA-256 of the key.</summary>
    public required string KeyHash { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }
}
