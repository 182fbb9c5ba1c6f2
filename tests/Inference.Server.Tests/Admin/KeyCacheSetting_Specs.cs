using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Admin;

/// <summary><c>Api:KeyCacheDuration</c> bounds how long a revoked key or a disabled tenant still works; above 30 s it is refused.</summary>
public sealed class When_the_key_cache_duration_is_configured
{
    [Theory]
    [InlineData("00:00:31")]
    [InlineData("00:05:00")]
    [InlineData("-00:00:01")]
    public async Task Should_refuse_to_start_with_a_duration_outside_0_to_30_seconds(string duration)
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?> { ["Api:KeyCacheDuration"] = duration });

        var refused = Assert.ThrowsAny<Exception>(() => app.Server);

        Assert.Contains("KeyCacheDuration", (refused as OptionsValidationException ?? refused.GetBaseException()).Message, StringComparison.Ordinal);
    }
}
