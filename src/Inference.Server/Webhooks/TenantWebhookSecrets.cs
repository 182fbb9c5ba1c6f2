using System.Security.Cryptography;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Webhooks;

/// <summary>
/// Each tenant's webhook signing secret (<c>whsec_</c> and 32 random bytes in base64, as Standard Webhooks writes it):
/// created when first read or first needed, rotated on an operator's request. For
/// <see cref="RotationOverlap"/> after a rotation the old secret signs beside the new one, so that receivers can switch
/// without losing a delivery.
/// </summary>
public static class TenantWebhookSecrets
{
    public const string Prefix = "whsec_";

    /// <summary>How long the secret before a rotation keeps signing beside the new one.</summary>
    public static readonly TimeSpan RotationOverlap = TimeSpan.FromHours(24);

    public static string NewSecret() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The tenant with its secret, created now if it had none; null when there is no such tenant.</summary>
    public static async Task<Tenant?> EnsureAsync(InferenceDbContext db, string tenantId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var tenant = await db.Tenants.AsNoTracking().SingleOrDefaultAsync(x => x.Id == tenantId, cancellationToken).ConfigureAwait(false);
        if (tenant is null || tenant.WebhookSecret is not null)
            return tenant;

        // Only where none is set yet: of two processes creating it at once, one wins and both read the winner's.
        var secret = NewSecret();
        await db.Tenants.Where(x => x.Id == tenantId && x.WebhookSecret == null)
            .ExecuteUpdateAsync(set => set.SetProperty(x => x.WebhookSecret, secret), cancellationToken).ConfigureAwait(false);
        return await db.Tenants.AsNoTracking().SingleOrDefaultAsync(x => x.Id == tenantId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Replaces the tenant's secret with a new one, keeping the old one to sign beside it for a while; returns
    /// the tenant as it is now, or null when there is no such tenant.</summary>
    public static async Task<Tenant?> RotateAsync(InferenceDbContext db, string tenantId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var tenant = await db.Tenants.AsTracking().SingleOrDefaultAsync(x => x.Id == tenantId, cancellationToken).ConfigureAwait(false);
        if (tenant is null)
            return null;

        tenant.PreviousWebhookSecret = tenant.WebhookSecret;
        tenant.WebhookSecret = NewSecret();
        tenant.WebhookSecretRotatedAt = now;
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        return tenant;
    }

    /// <summary>
    /// The secrets a delivery is signed with now: the current one, and within the overlap the previous one, first.
    /// </summary>
    /// <remarks>
    /// The spec lets a receiver accept any of the space-separated signatures, but the StandardWebhooks package (1.1.2)
    /// checks only the first. The previous secret goes first, so that receivers not yet switched keep working with it
    /// unchanged; a receiver on the new secret with that package tries each signature on its own (see docs/api.md).
    /// </remarks>
    public static IReadOnlyList<string> SigningSecrets(Tenant tenant, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        if (tenant.WebhookSecret is null)
            return [];
        return tenant.PreviousWebhookSecret is { } previous && tenant.WebhookSecretRotatedAt is { } rotatedAt && now - rotatedAt < RotationOverlap
            ? [previous, tenant.WebhookSecret]
            : [tenant.WebhookSecret];
    }
}
