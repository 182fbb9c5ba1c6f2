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

    /// <summary>The <c>whsec_</c> secret that signs the tenant's webhooks; created when first needed.</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>The secret before the last rotation, which still signs beside the new one for a while (see
    /// <see cref="Webhooks.TenantWebhookSecrets.RotationOverlap"/>).</summary>
    public string? PreviousWebhookSecret { get; set; }

    public DateTimeOffset? WebhookSecretRotatedAt { get; set; }
}
