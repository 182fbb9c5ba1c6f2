using System.Security.Claims;
using System.Text.Encodings.Web;
using Inference.Orchestration;
using Inference.Server.Api;
using Inference.Server.Persistence;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tenants;

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c> to the key's tenant. The
/// caller's identity is the tenant id, never the key. An unknown, revoked or expired key is <c>401 unauthorized</c>; the
/// key of a disabled tenant is <c>403 tenant_disabled</c>. Lookups are cached for <see cref="ApiKeyOptions.KeyCacheDuration"/>
/// and never past the key's own expiry, so a revocation or a tenant disabled or enabled applies within that duration.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    InferenceDbContext db,
    IMemoryCache cache,
    IOptions<ApiKeyOptions> keyOptions,
    TimeProvider clock) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string TenantClaim = "tenant_id";

    /// <summary>The authentication property that tells a refused key of a disabled tenant from an invalid key.</summary>
    private const string FailureItem = "failure";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (ReadKey() is not { Length: > 0 } key)
            return AuthenticateResult.NoResult();

        var hash = ApiKeyHash.Of(key);
        var cacheKey = $"api-key:{hash}";
        var now = clock.GetUtcNow();
        if (!cache.TryGetValue(cacheKey, out KeyAccess? access) || access is null)
        {
            access = await db.ApiKeys.AsNoTracking()
                .Where(x => x.KeyHash == hash && (x.RevokedAt == null || x.RevokedAt > now))
                .Join(db.Tenants, k => k.TenantId, t => t.Id, (k, t) => new KeyAccess(k.TenantId, k.ExpiresAt, t.DisabledAt != null))
                .FirstOrDefaultAsync(Context.RequestAborted).ConfigureAwait(false);
            if (access is null)
                return AuthenticateResult.Fail("Unknown or revoked API key.");

            // Only keys that exist are cached: caching misses would let anyone grow the cache with made-up keys. An
            // entry never outlives the key's expiry.
            var keep = keyOptions.Value.KeyCacheDuration;
            if (access.ExpiresAt is { } expiresAt && expiresAt - now < keep)
                keep = expiresAt - now;
            if (keep > TimeSpan.Zero)
                cache.Set(cacheKey, access, keep);
        }

        if (access.ExpiresAt <= now)
            return AuthenticateResult.Fail("Expired API key.");
        if (access.TenantDisabled)
            return AuthenticateResult.Fail($"Tenant '{access.TenantId}' is disabled.",
                new AuthenticationProperties(new Dictionary<string, string?> { [FailureItem] = ErrorCodes.TenantDisabled }));

        var identity = new ClaimsIdentity([new Claim(TenantClaim, access.TenantId)], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false);
        if (result.Properties?.Items.TryGetValue(FailureItem, out var failure) == true && failure == ErrorCodes.TenantDisabled)
        {
            await TenantDisabled().WriteAsync(Context).ConfigureAwait(false);
            return;
        }

        Response.Headers.WWWAuthenticate = "Bearer";
        await Problems.Unauthorized().WriteAsync(Context).ConfigureAwait(false);
    }

    /// <summary>The key is valid, but its tenant may not use the API now.</summary>
    internal static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult TenantDisabled() =>
        TypedResults.Problem("The tenant of this API key is disabled; ask the operator to enable it.",
            statusCode: StatusCodes.Status403Forbidden, title: "Tenant disabled", type: $"urn:inference:problem:{ErrorCodes.TenantDisabled}",
            extensions: new Dictionary<string, object?> { ["code"] = ErrorCodes.TenantDisabled });

    private string? ReadKey()
    {
        if (Request.Headers.TryGetValue("X-Api-Key", out var apiKey))
            return apiKey.ToString().Trim();

        var authorization = Request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : null;
    }

    /// <summary>What a key lookup finds, and what the cache keeps: never the key.</summary>
    private sealed record KeyAccess(string TenantId, DateTimeOffset? ExpiresAt, bool TenantDisabled);
}

