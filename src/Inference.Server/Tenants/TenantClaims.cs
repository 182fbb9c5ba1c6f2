using System.Security.Claims;

namespace Inference.Server.Tenants;

public static class TenantClaims
{
    /// <summary>The authenticated caller's tenant. Endpoints that call this require authorization.</summary>
    public static string TenantId(this ClaimsPrincipal user) =>
        user.FindFirstValue(ApiKeyAuthenticationHandler.TenantClaim)
        ?? throw new InvalidOperationException("The endpoint must require an authenticated tenant.");
}
