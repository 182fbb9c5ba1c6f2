using System.ComponentModel;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Usage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Api.Admin;

/// <summary>The operators' view of any tenant's usage: the same report as the tenant's own <c>GET /v1/usage</c>.</summary>
public static class UsageAdminApi
{
    public static RouteGroupBuilder MapUsageAdminApiV1(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/admin/v1").RequireAdminToken().WithTags("Admin");
        group.MapGet("/tenants/{id}/usage", GetAsync).WithName("GetTenantUsage")
            .WithDocs("Read a tenant's usage", UsageApi.Description + " An unknown tenant is `404 tenant_not_found`.")
            .WithParameterDocs("id", "The tenant's id.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound);
        return group;
    }

    internal static async Task<Results<Ok<UsageReportResponse>, ProblemHttpResult>> GetAsync(
        string id,
        [FromQuery, Description(UsageApi.FromDescription)] string? from,
        [FromQuery, Description(UsageApi.ToDescription)] string? to,
        [FromQuery(Name = "group_by"), Description(UsageApi.GroupByDescription)] string? groupBy,
        InferenceDbContext db,
        UsageReports reports,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(reports);
        var (query, problem) = reports.Parse(from, to, groupBy);
        if (query is null)
            return problem!;
        if (!await db.Tenants.AnyAsync(x => x.Id == id, cancellationToken).ConfigureAwait(false))
        {
            return TypedResults.Problem($"There is no tenant '{InputText.Printable(id)}'.", statusCode: StatusCodes.Status404NotFound,
                title: "No such tenant", type: "urn:inference:problem:tenant_not_found",
                extensions: new Dictionary<string, object?> { ["code"] = ErrorCodes.TenantNotFound });
        }

        return TypedResults.Ok(await reports.ReadAsync(id, query, cancellationToken).ConfigureAwait(false));
    }
}
