using Inference.Server.Persistence;
using Inference.Server.Quota;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;

namespace Inference.Server.Tenants;

/// <summary>A tenant's token limits, read from its row and cached briefly: a plan change applies within
/// <see cref="CacheFor"/>.</summary>
public sealed class TenantQuotaLimits(InferenceDbContext db, IMemoryCache cache)
{
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    public async Task<QuotaPlan> GetAsync(string tenantId, CancellationToken cancellationToken)
    {
        var limits = await cache.GetOrCreateAsync($"tenant-limits:{tenantId}", async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = CacheFor;
            var tenant = await db.Tenants.AsNoTracking().SingleOrDefaultAsync(x => x.Id == tenantId, cancellationToken)
                .ConfigureAwait(false);
            return tenant is null
                ? null
                : new QuotaPlan
                {
                    // The columns say 0 for no limit.
                    TokensPerMinute = tenant.TokensPerMinute == 0 ? null : tenant.TokensPerMinute,
                    TokensPerDay = tenant.TokensPerDay == 0 ? null : tenant.TokensPerDay,
                };
        }).ConfigureAwait(false);

        return limits ?? throw new InvalidOperationException($"Tenant '{tenantId}' does not exist.");
    }
}
