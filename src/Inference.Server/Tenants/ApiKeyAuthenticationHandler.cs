using System.Security.Claims;
using System.Text.Encodings.Web;
using Inference.Server.Api;
using Inference.Server.Persistence;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tenants;

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c> to the key's tenant. The
/// caller's identity is the tenant id, never the key. Lookups are cached briefly: a revoked key stops working within
/// <see cref="CacheFor"/>.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    InferenceDbContext db,
    IMemoryCache cache,
    TimeProvider clock) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string TenantClaim = "tenant_id";
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (ReadKey() is not { Length: > 0 } key)
            return AuthenticateResult.NoResult();

        var hash = ApiKeyHash.Of(key);
        var cacheKey = $"api-key:{hash}";
        if (!cache.TryGetValue(cacheKey, out string? tenantId) || tenantId is null)
        {
            var now = clock.GetUtcNow();
            tenantId = await db.ApiKeys.AsNoTracking()
                .Where(x => x.KeyHash == hash && (x.RevokedAt == null || x.RevokedAt > now))
                .Select(x => x.TenantId)
                .FirstOrDefaultAsync(Context.RequestAborted).ConfigureAwait(false);
            if (tenantId is null)
                return AuthenticateResult.Fail("Unknown or revoked API key.");

            // Only valid keys are cached: caching misses would let anyone grow the cache with made-up keys.
            cache.Set(cacheKey, tenantId, CacheFor);
        }

        var identity = new ClaimsIdentity([new Claim(TenantClaim, tenantId)], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        await Problems.Unauthorized().WriteAsync(Context).ConfigureAwait(false);
    }

    private string? ReadKey()
    {
        if (Request.Headers.TryGetValue("X-Api-Key", out var apiKey))
            return apiKey.ToString().Trim();

        var authorization = Request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : null;
    }
}
