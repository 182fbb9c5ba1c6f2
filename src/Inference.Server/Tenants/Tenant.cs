using Inference.Server.Quota;

namespace Inference.Server.Tenants;

/// <summary>A customer account: its requests, keys and quota are its own.</summary>
public sealed class Tenant
{
    public required string Id { get; set; }

    public required string Name { get; set; }

    /// <summary>Admitted requests per UTC calendar minute; null means no limit (see <see cref="QuotaPlan"/>).</summary>
    public long? RequestsPerMinute { get; set; }

    /// <summary>Tokens per UTC calendar minute; null means no limit.</summary>
    public long? TokensPerMinute { get; set; }

    /// <summary>Tokens per UTC calendar day; null means no limit.</summary>
    public long? TokensPerDay { get; set; }

    /// <summary>Tokens per UTC calendar month; null means no limit.</summary>
    public long? TokensPerMonth { get; set; }

    /// <summary>Requests admitted and not yet final at one time; null means no limit.</summary>
    public long? MaxConcurrent { get; set; }

    /// <summary>Inputs in one request; null means no limit beyond the API's own.</summary>
    public long? MaxInputsPerRequest { get; set; }

    /// <summary>The six limits above as one plan. Stored as columns, not as a document, so that an operator can read
    /// and change one limit with SQL.</summary>
    public QuotaPlan Plan
    {
        get => new()
        {
            RequestsPerMinute = RequestsPerMinute,
            TokensPerMinute = TokensPerMinute,
            TokensPerDay = TokensPerDay,
            TokensPerMonth = TokensPerMonth,
            MaxConcurrent = MaxConcurrent,
            MaxInputsPerRequest = MaxInputsPerRequest,
        };
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            RequestsPerMinute = value.RequestsPerMinute;
            TokensPerMinute = value.TokensPerMinute;
            TokensPerDay = value.TokensPerDay;
            TokensPerMonth = value.TokensPerMonth;
            MaxConcurrent = value.MaxConcurrent;
            MaxInputsPerRequest = value.MaxInputsPerRequest;
        }
    }

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
