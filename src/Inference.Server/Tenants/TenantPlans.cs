using Inference.Server.Persistence;
using Inference.Server.Quota;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;

namespace Inference.Server.Tenants;

/// <summary>A tenant's plan, read from its row and cached briefly: a plan change applies within <see cref="CacheFor"/>.</summary>
public sealed class TenantPlans(InferenceDbContext db, IMemoryCache cache)
{
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    /// <exception cref="InvalidOperationException">There is no such tenant.</exception>
    public async Task<QuotaPlan> GetAsync(string tenantId, CancellationToken cancellationToken) =>
        await FindAsync(tenantId, cancellationToken).ConfigureAwait(false)
        ?? throw new InvalidOperationException($"Tenant '{tenantId}' does not exist.");

    /// <summary>The plan, or <see langword="null"/> for a tenant that does not exist (not cached, so that it can be created).</summary>
    public async Task<QuotaPlan?> FindAsync(string tenantId, CancellationToken cancellationToken)
    {
        var plan = await cache.GetOrCreateAsync($"tenant-plan:{tenantId}", async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = CacheFor;
            var tenant = await db.Tenants.AsNoTracking().SingleOrDefaultAsync(x => x.Id == tenantId, cancellationToken)
                .ConfigureAwait(false);
            return tenant?.Plan;
        }).ConfigureAwait(false);

        if (plan is null)
            cache.Remove($"tenant-plan:{tenantId}");
        return plan;
    }
}
