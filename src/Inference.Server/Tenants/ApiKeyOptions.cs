using System.ComponentModel.DataAnnotations;

namespace Inference.Server.Tenants;

/// <summary>The API-key settings of section <c>Api</c> (bound beside <see cref="Api.ApiOptions"/>, same section).</summary>
public sealed class ApiKeyOptions
{
    public const string Section = "Api";

    /// <summary>The most <see cref="KeyCacheDuration"/> may be.</summary>
    public static readonly TimeSpan MaxKeyCacheDuration = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long an API key's lookup (its tenant, its expiry, whether the tenant is disabled) is kept in memory. A key
    /// revoked, or a tenant disabled or enabled, takes effect within it; an expiring key still stops at its own expiry.
    /// At most 30 seconds, so that a leaked key is cut off promptly; zero looks every request up.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:30")]
    public TimeSpan KeyCacheDuration { get; set; } = MaxKeyCacheDuration;
}
