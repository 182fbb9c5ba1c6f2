using System.ComponentModel;
using Inference.Server.Tenants;
using Inference.Server.Usage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Inference.Server.Api;

/// <summary><c>GET /v1/usage</c>: what the caller's tenant was billed, per day or per model, from the usage ledger.</summary>
public static class UsageApi
{
    /// <summary>What the report routes say of their parameters; the admin route says the same.</summary>
    internal const string Description =
        "The tokens of the requests that completed in `[from, to)`, per UTC day (`group_by=day`, the default) or per model " +
        "(`group_by=model`), with their sum in `total`. Failed and canceled requests are charged nothing and do not appear. " +
        "`from` and `to` are ISO 8601 dates (midnight UTC) or date-times (UTC unless they name an offset); by default " +
        "the start of the current UTC month and now. `from` not before `to`, a value that is no date, or a range of more " +
        "than 366 days is `400 usage_range_invalid`; another `group_by` is `400 group_by_invalid`.";

    internal const string FromDescription = "Start of the range (inclusive), by completion time; the start of the current UTC month when absent.";
    internal const string ToDescription = "End of the range (exclusive); now when absent.";
    internal const string GroupByDescription = "`day` (the default) or `model`.";

    public static RouteHandlerBuilder MapUsageApiV1(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/usage", GetAsync)
            .RequireAuthorization()
            .RequireRateLimiting(ApiExtensions.ConcurrencyPolicy)
            .WithTags("Usage")
            .WithName("GetUsage")
            .WithDocs("Read the tenant's usage", Description)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status503ServiceUnavailable);

    internal static async Task<Results<Ok<UsageReportResponse>, ProblemHttpResult>> GetAsync(
        [FromQuery, Description(FromDescription)] string? from,
        [FromQuery, Description(ToDescription)] string? to,
        [FromQuery(Name = "group_by"), Description(GroupByDescription)] string? groupBy,
        HttpContext http,
        UsageReports reports,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(reports);
        var (query, problem) = reports.Parse(from, to, groupBy);
        if (query is null)
            return problem!;
        return TypedResults.Ok(await reports.ReadAsync(http.User.TenantId(), query, cancellationToken).ConfigureAwait(false));
    }
}
