using Inference.Server.Hosting;
using Inference.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tenants;

/// <summary>
/// Seeds the tenant <c>dev</c> so that one command shows the system working. Its key is <c>Dev:ApiKey</c>; without it,
/// the embedded mode generates one and prints it. Either way the seeded key becomes dev's only valid key.
/// </summary>
public sealed partial class DevTenantSeeder(
    InferenceDbContext db,
    IOptions<DevTenantOptions> options,
    Infrastructure infrastructure,
    TimeProvider clock,
    ILogger<DevTenantSeeder> logger)
{
    public const string TenantId = "dev";

    public async Task SeedAsync(CancellationToken cancellationToken)
    {
        var key = options.Value.ApiKey;
        var generated = false;
        if (string.IsNullOrWhiteSpace(key))
        {
            if (infrastructure.Postgres is not null)
                return;
            key = ApiKeyHash.NewKey();
            generated = true;
        }

        var now = clock.GetUtcNow();
        var tenant = await db.Tenants.FindAsync([TenantId], cancellationToken).ConfigureAwait(false);
        if (tenant is null)
        {
            tenant = new Tenant { Id = TenantId, Name = "Development", CreatedAt = now };
            db.Tenants.Add(tenant);
        }

        var plan = options.Value.Plan();
        if (plan.InvalidLimits().ToList() is [_, ..] invalid)
            throw new InvalidOperationException(
                $"Dev: the limits {string.Join(", ", invalid)} must be at least 1 (0 for no limit only for the two token settings).");
        tenant.Plan = plan;

        var hash = ApiKeyHash.Of(key);
        var keys = await db.ApiKeys.Where(x => x.TenantId == TenantId).ToListAsync(cancellationToken).ConfigureAwait(false);
        foreach (var stale in keys.Where(x => x.KeyHash != hash && x.RevokedAt is null))
            stale.RevokedAt = now;
        if (keys.All(x => x.KeyHash != hash))
            db.ApiKeys.Add(new ApiKey
            {
                Id = Guid.NewGuid(), TenantId = TenantId, KeyHash = hash, Name = "Dev:ApiKey",
                KeyPrefix = key[..Math.Min(ApiKey.PrefixLength, key.Length)], CreatedAt = now,
            });
        else
            keys.Single(x => x.KeyHash == hash).RevokedAt = null;

        try
        {
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException) when (!generated)
        {
            // Another process seeded the same tenant and key at the same moment: the outcome we wanted.
            return;
        }

        if (generated)
            LogGeneratedKey(key);
        else
            LogSeeded();
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Tenant 'dev' seeded with a generated API key (set Dev:ApiKey to choose one): {ApiKey}")]
    private partial void LogGeneratedKey(string apiKey);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tenant 'dev' seeded with the key from Dev:ApiKey.")]
    private partial void LogSeeded();
}
