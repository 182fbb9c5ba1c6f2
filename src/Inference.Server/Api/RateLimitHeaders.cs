using System.Globalization;
using Inference.Server.Quota;
using Inference.Server.Tenants;

namespace Inference.Server.Api;

/// <summary>
/// OpenAI's rate-limit headers on every authenticated <c>/v1</c> response: the plan's request window
/// (<c>x-ratelimit-*-requests</c>) and its tightest token window (<c>x-ratelimit-*-tokens</c>: the one with the fewest
/// tokens left), each omitted when the plan has no such limit.
/// </summary>
/// <remarks>
/// Written as the response starts, so that a submission's headers count its own reservation when it was decided in time.
/// The cost is the plan (cached in memory, <see cref="TenantPlans.CacheFor"/>) and one read of the ledger (one Redis round
/// trip), only for a plan that limits something. When the ledger cannot be read the headers are left out: they inform,
/// and never fail a response.
/// </remarks>
public static class RateLimitHeaders
{
    public const string LimitRequests = "x-ratelimit-limit-requests";
    public const string RemainingRequests = "x-ratelimit-remaining-requests";
    public const string ResetRequests = "x-ratelimit-reset-requests";
    public const string LimitTokens = "x-ratelimit-limit-tokens";
    public const string RemainingTokens = "x-ratelimit-remaining-tokens";
    public const string ResetTokens = "x-ratelimit-reset-tokens";

    /// <summary>The longest a response waits for the windows to be read; past it the headers are left out.</summary>
    public static readonly TimeSpan ReadTimeout = TimeSpan.FromMilliseconds(250);

    /// <summary>Adds the headers to the authenticated <c>/v1</c> responses; after authentication.</summary>
    public static IApplicationBuilder UseRateLimitHeaders(this IApplicationBuilder app) => app.Use((http, next) =>
    {
        if (http.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal)
            && http.User.FindFirst(ApiKeyAuthenticationHandler.TenantClaim)?.Value is { } tenantId)
            http.Response.OnStarting(() => WriteAsync(http, tenantId));
        return next(http);
    });

    private static async Task WriteAsync(HttpContext http, string tenantId)
    {
        try
        {
            var services = http.RequestServices;
            if (services.GetService<IQuotaLedger>() is not { } ledger)
                return;
            if (await services.GetRequiredService<TenantPlans>().FindAsync(tenantId, http.RequestAborted).ConfigureAwait(false) is not { } plan
                || plan is { RequestsPerMinute: null, TokensPerMinute: null, TokensPerDay: null, TokensPerMonth: null })
                return;

            // Bounded: while Redis is away its client holds commands back for seconds, and no response waits for headers.
            var usage = await ledger.GetUsageAsync(tenantId, http.RequestAborted).WaitAsync(ReadTimeout, http.RequestAborted).ConfigureAwait(false);
            var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
            foreach (var (name, value) in Of(plan, usage, now))
                http.Response.Headers[name] = value;
        }
#pragma warning disable CA1031 // The headers inform; whatever keeps them from being read must not fail the response.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>The headers for <paramref name="plan"/> and the windows' <paramref name="usage"/> at <paramref name="now"/>.</summary>
    public static IEnumerable<(string Name, string Value)> Of(QuotaPlan plan, QuotaUsage usage, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(usage);
        if (plan.RequestsPerMinute is { } requests)
        {
            yield return (LimitRequests, Number(requests));
            yield return (RemainingRequests, Number(Math.Max(0, requests - usage.Requests.Total)));
            yield return (ResetRequests, Duration(usage.Requests.ResetsAt - now));
        }

        // The tightest token window: the fewest tokens left; of equals, the one that resets last.
        (long? Limit, QuotaWindowUsage Window)[] windows =
            [(plan.TokensPerMinute, usage.MinuteTokens), (plan.TokensPerDay, usage.DayTokens), (plan.TokensPerMonth, usage.MonthTokens)];
        var limited = windows.Where(x => x.Limit is not null).Select(x => (Limit: x.Limit!.Value, x.Window)).ToList();
        if (limited.Count > 0)
        {
            var tightest = limited.OrderBy(x => Math.Max(0, x.Limit - x.Window.Total)).ThenByDescending(x => x.Window.ResetsAt).First();
            yield return (LimitTokens, Number(tightest.Limit));
            yield return (RemainingTokens, Number(Math.Max(0, tightest.Limit - tightest.Window.Total)));
            yield return (ResetTokens, Duration(tightest.Window.ResetsAt - now));
        }
    }

    /// <summary>
    /// A time to wait as OpenAI writes it: <c>250ms</c>, <c>1s</c>, <c>6m0s</c>, <c>3h2m</c>. Rounded up, so that a client
    /// waiting that long finds the window reset.
    /// </summary>
    public static string Duration(TimeSpan? wait)
    {
        var left = wait is { } value && value > TimeSpan.Zero ? value : TimeSpan.Zero;
        var milliseconds = (long)Math.Ceiling(left.TotalMilliseconds);
        if (milliseconds < 1000)
            return string.Create(CultureInfo.InvariantCulture, $"{milliseconds}ms");

        var seconds = (long)Math.Ceiling(left.TotalSeconds);
        if (seconds < 60)
            return string.Create(CultureInfo.InvariantCulture, $"{seconds}s");
        if (seconds < 3600)
            return string.Create(CultureInfo.InvariantCulture, $"{seconds / 60}m{seconds % 60}s");

        var minutes = (seconds + 59) / 60;
        return string.Create(CultureInfo.InvariantCulture, $"{minutes / 60}h{minutes % 60}m");
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
