using Inference.Server.Quota;
using Inference.Server.Resilience;
using Inference.Server.Tenants;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Inference.Server.Api;

/// <summary><c>GET /v1/quota</c>: the caller's plan and where each of its windows stands.</summary>
public static class QuotaApi
{
    /// <summary>The longest the route waits for the windows; while Redis is away its client holds commands back for seconds.</summary>
    public static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(2);

    public static RouteGroupBuilder MapQuotaApiV1(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/quota").RequireAuthorization().RequireRateLimiting(ApiExtensions.ConcurrencyPolicy)
            .WithTags("Quota")
            .ProducesProblems(StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/", GetAsync)
            .WithName("GetQuota")
            .WithDocs("Read the plan and its windows",
                "The tenant's plan (each limit `null` when the plan has none) and, per window, its `limit`, what is `used` " +
                "(settled by requests that ended), `reserved` (held by requests that have not), `remaining` and `resets_at`. " +
                "Token windows are UTC calendar minutes, days and months; `max_concurrent` counts unfinished requests and " +
                "has no reset. `503 quota_unavailable` when the quota store cannot be read.");
        return group;
    }

    internal static async Task<Results<Ok<QuotaResponse>, ProblemHttpResult>> GetAsync(
        HttpContext http, TenantPlans plans, CancellationToken cancellationToken)
    {
        var tenantId = http.User.TenantId();
        var plan = await plans.GetAsync(tenantId, cancellationToken).ConfigureAwait(false);
        QuotaUsage usage;
        try
        {
            // An api process without Redis has no ledger of its own to read: the quota lives with the orchestrators.
            var ledger = http.RequestServices.GetService<IQuotaLedger>()
                ?? throw new StackExchange.Redis.RedisConnectionException(StackExchange.Redis.ConnectionFailureType.UnableToConnect, "No quota ledger is configured in this process (ConnectionStrings:Redis).");
            usage = await ledger.GetUsageAsync(tenantId, cancellationToken).WaitAsync(ReadTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (TransientFailures.Is(exception) || exception is StackExchange.Redis.RedisException or TimeoutException)
        {
            http.Response.Headers.RetryAfter = ((int)Problems.RetryAfterOutage.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Problems.QuotaUnavailable();
        }

        return TypedResults.Ok(new QuotaResponse("quota", tenantId, PlanBody.From(plan), new QuotaWindowsResponse(
            Window(plan.RequestsPerMinute, usage.Requests),
            Window(plan.TokensPerMinute, usage.MinuteTokens),
            Window(plan.TokensPerDay, usage.DayTokens),
            Window(plan.TokensPerMonth, usage.MonthTokens),
            Window(plan.MaxConcurrent, usage.Concurrent))));
    }

    private static QuotaWindowResponse Window(long? limit, QuotaWindowUsage usage) =>
        new(limit, usage.Used, usage.Reserved, limit is { } value ? Math.Max(0, value - usage.Total) : null, usage.ResetsAt);
}

/// <summary>The body of <c>GET /v1/quota</c>.</summary>
/// <param name="Object">Always <c>quota</c>.</param>
/// <param name="TenantId">The caller's tenant.</param>
/// <param name="Plan">The plan's limits; <see langword="null"/> is no limit.</param>
/// <param name="Windows">Each window's state.</param>
public sealed record QuotaResponse(string Object, string TenantId, PlanBody Plan, QuotaWindowsResponse Windows);

/// <summary>The windows of a plan, each shown whether or not the plan limits it.</summary>
/// <param name="RequestsPerMinute">Requests admitted this UTC minute.</param>
/// <param name="TokensPerMinute">Tokens this UTC minute.</param>
/// <param name="TokensPerDay">Tokens this UTC day.</param>
/// <param name="TokensPerMonth">Tokens this UTC month.</param>
/// <param name="MaxConcurrent">Unfinished requests now.</param>
public sealed record QuotaWindowsResponse(
    QuotaWindowResponse RequestsPerMinute, QuotaWindowResponse TokensPerMinute, QuotaWindowResponse TokensPerDay,
    QuotaWindowResponse TokensPerMonth, QuotaWindowResponse MaxConcurrent);

/// <summary>One window.</summary>
/// <param name="Limit">The plan's limit; <see langword="null"/> when it has none (the window is still counted).</param>
/// <param name="Used">Settled: tokens of ended requests (requests admitted; unfinished requests for <c>max_concurrent</c>).</param>
/// <param name="Reserved">Tokens held by requests that have not ended yet.</param>
/// <param name="Remaining">What the limit still admits; <see langword="null"/> without a limit.</param>
/// <param name="ResetsAt">When the window starts again from zero; <see langword="null"/> for <c>max_concurrent</c>.</param>
public sealed record QuotaWindowResponse(long? Limit, long Used, long Reserved, long? Remaining, DateTimeOffset? ResetsAt);
