using System.Globalization;
using System.Text.Json;
using Inference.Server.Quota;
using Inference.Server.Tenants;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api.Admin;

/// <summary>
/// The operators' tenant routes: tenants, their plans, and their API keys. The work is <see cref="TenantAdministration"/>'s,
/// which the admin command line calls too; this is its HTTP face.
/// </summary>
public static class TenantsAdminApi
{
    /// <summary>Most bytes an admin body may have: a tenant with its plan is a few hundred.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    private const string TenantIdDescription = "The tenant's id.";

    public static RouteGroupBuilder MapTenantsAdminApiV1(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/admin/v1/tenants").RequireAdminToken().WithTags("Admin")
            .ProducesProblems(StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound);

        group.MapPost("/", CreateTenantAsync).WithName("CreateTenant")
            .Accepts<CreateTenantRequest>("application/json")
            .WithDocs("Create a tenant",
                "Creates a tenant with its plan and answers it, `201` with its URL in `Location`. The id is 1 to 64 characters of " +
                "`a-z`, `0-9`, `.`, `_` and `-`, starting with a letter or digit (else `tenant_id_invalid`); an id in use is " +
                "`409 tenant_exists`. Every limit of the plan is optional (absent or null: no limit) and otherwise a whole number " +
                "of at least 1 (else `plan_invalid`, with the fields in `errors`). Unknown fields are `400 invalid_json`.")
            .WithResponseHeader(StatusCodes.Status201Created, "Location", "The tenant's URL, `/admin/v1/tenants/{id}`.")
            .Produces<TenantResponse>(StatusCodes.Status201Created)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType);
        group.MapGet("/", ListTenantsAsync).WithName("ListTenants")
            .WithDocs("List tenants",
                "Tenants in order of their ids, `limit` at a time: pass `next_after` back as `after` for the next page, while " +
                "`has_more` is true.")
            .WithParameterDocs("limit", "How many, 1 to 200 (50 when absent); otherwise `400 limit_invalid`.")
            .WithParameterDocs("after", "The id after which the page starts (the previous page's `next_after`).")
            .Produces<TenantListResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest);
        group.MapGet("/{id}", GetTenantAsync).WithName("GetTenant")
            .WithDocs("Read a tenant", "The tenant with its plan and whether it is disabled; an unknown one is `404 tenant_not_found`.")
            .WithParameterDocs("id", TenantIdDescription)
            .Produces<TenantResponse>();
        group.MapPut("/{id}/plan", SetPlanAsync).WithName("SetTenantPlan")
            .Accepts<PlanRequest>("application/json")
            .WithDocs("Replace a tenant's plan",
                "The body is the whole plan: a limit left out (or null) is no limit. Limits are whole numbers of at least 1 " +
                "(else `400 plan_invalid`). The new plan applies to new requests within 30 seconds. Answers the tenant.")
            .WithParameterDocs("id", TenantIdDescription)
            .Produces<TenantResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType);
        group.MapPost("/{id}/disable", DisableAsync).WithName("DisableTenant")
            .WithDocs("Disable a tenant",
                "Its keys are then answered `403 tenant_disabled` (within `Api:KeyCacheDuration`, 30 s at most) and nothing it " +
                "submits runs. Disabling a disabled tenant changes nothing. Answers the tenant.")
            .WithParameterDocs("id", TenantIdDescription)
            .Produces<TenantResponse>();
        group.MapPost("/{id}/enable", EnableAsync).WithName("EnableTenant")
            .WithDocs("Enable a tenant", "Undoes a disable (within `Api:KeyCacheDuration`); enabling an enabled tenant changes nothing. Answers the tenant.")
            .WithParameterDocs("id", TenantIdDescription)
            .Produces<TenantResponse>();
        group.MapPost("/{id}/keys", CreateKeyAsync).WithName("CreateTenantKey")
            .Accepts<CreateKeyRequest>(isOptional: true, "application/json")
            .WithDocs("Issue an API key",
                "A new key for the tenant, `201`. The key is in this answer only: it is stored as a hash, and lists show its " +
                "first 7 characters. `name` (up to 100 characters) labels it; `expires_at` (ISO 8601, in the future, else " +
                "`400 expires_at_invalid`) ends it by itself. The body may be empty.")
            .WithParameterDocs("id", TenantIdDescription)
            .Produces<CreatedKeyResponse>(StatusCodes.Status201Created)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType);
        group.MapGet("/{id}/keys", ListKeysAsync).WithName("ListTenantKeys")
            .WithDocs("List a tenant's API keys",
                "Every key the tenant was issued, revoked and expired ones too, oldest first, with its `prefix`: never the key.")
            .WithParameterDocs("id", TenantIdDescription)
            .Produces<KeyListResponse>();
        group.MapDelete("/{id}/keys/{keyId}", RevokeKeyAsync).WithName("RevokeTenantKey")
            .WithDocs("Revoke an API key",
                "The key stops working within `Api:KeyCacheDuration` (30 s at most): `204`. Revoking a revoked key is `204` again; " +
                "a key the tenant does not have is `404 key_not_found`.")
            .WithParameterDocs("id", TenantIdDescription)
            .WithParameterDocs("keyId", "The key's `key_id`.")
            .Produces(StatusCodes.Status204NoContent);
        return group;
    }

    internal static async Task<Results<Created<TenantResponse>, ProblemHttpResult>> CreateTenantAsync(
        HttpRequest http, TenantAdministration tenants, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var (request, problem) = await ReadAsync<CreateTenantRequest>(http, json.Value, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
            return problem;

        var (plan, planErrors) = request!.Plan?.Read("plan.") ?? (QuotaPlan.Unlimited, []);
        if (planErrors.Count > 0)
            return ToProblem(TenantAdministration.PlanInvalid(planErrors));

        var result = await tenants.CreateTenantAsync(request.Id, request.Name, plan!, cancellationToken).ConfigureAwait(false);
        return result.Error is { } error
            ? ToProblem(error)
            : TypedResults.Created($"/admin/v1/tenants/{Uri.EscapeDataString(result.Value!.Id)}", result.Value);
    }

    internal static async Task<Results<Ok<TenantListResponse>, ProblemHttpResult>> ListTenantsAsync(
        TenantAdministration tenants, CancellationToken cancellationToken, string? limit = null, string? after = null)
    {
        int? count = null;
        if (limit is not null)
        {
            if (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                parsed = -1;
            count = parsed;
        }

        return Answer(await tenants.ListTenantsAsync(count, after, cancellationToken).ConfigureAwait(false));
    }

    internal static async Task<Results<Ok<TenantResponse>, ProblemHttpResult>> GetTenantAsync(
        string id, TenantAdministration tenants, CancellationToken cancellationToken) =>
        Answer(await tenants.GetTenantAsync(id, cancellationToken).ConfigureAwait(false));

    internal static async Task<Results<Ok<TenantResponse>, ProblemHttpResult>> SetPlanAsync(
        string id, HttpRequest http, TenantAdministration tenants, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var (request, problem) = await ReadAsync<PlanRequest>(http, json.Value, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
            return problem;

        var (plan, planErrors) = request!.Read(string.Empty);
        if (planErrors.Count > 0)
            return ToProblem(TenantAdministration.PlanInvalid(planErrors));
        return Answer(await tenants.SetPlanAsync(id, plan!, cancellationToken).ConfigureAwait(false));
    }

    internal static async Task<Results<Ok<TenantResponse>, ProblemHttpResult>> DisableAsync(
        string id, TenantAdministration tenants, CancellationToken cancellationToken) =>
        Answer(await tenants.SetDisabledAsync(id, disabled: true, cancellationToken).ConfigureAwait(false));

    internal static async Task<Results<Ok<TenantResponse>, ProblemHttpResult>> EnableAsync(
        string id, TenantAdministration tenants, CancellationToken cancellationToken) =>
        Answer(await tenants.SetDisabledAsync(id, disabled: false, cancellationToken).ConfigureAwait(false));

    internal static async Task<Results<Created<CreatedKeyResponse>, ProblemHttpResult>> CreateKeyAsync(
        string id, HttpRequest http, TenantAdministration tenants, IOptions<JsonOptions> json, CancellationToken cancellationToken)
    {
        var request = new CreateKeyRequest();
        // No body at all (no Content-Length, no chunks) is an empty request; any body is read as JSON.
        var noBody = http.ContentLength == 0
                     || http.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false;
        if (!noBody)
        {
            var (read, problem) = await ReadAsync<CreateKeyRequest>(http, json.Value, cancellationToken).ConfigureAwait(false);
            if (problem is not null)
                return problem;
            request = read!;
        }

        DateTimeOffset? expiresAt = null;
        if (request.ExpiresAt is { ValueKind: not JsonValueKind.Null } expires)
        {
            if (expires.ValueKind != JsonValueKind.String || !TenantAdministration.TryParseExpiresAt(expires.GetString()!, out var parsed))
                return ToProblem(TenantAdministration.ExpiresAtInvalid("'expires_at' must be an ISO 8601 date and time, e.g. 2030-01-31T00:00:00Z."));
            expiresAt = parsed;
        }

        var result = await tenants.CreateKeyAsync(id, request.Name, expiresAt, cancellationToken).ConfigureAwait(false);
        return result.Error is { } error ? ToProblem(error) : TypedResults.Created((string?)null, result.Value);
    }

    internal static async Task<Results<Ok<KeyListResponse>, ProblemHttpResult>> ListKeysAsync(
        string id, TenantAdministration tenants, CancellationToken cancellationToken) =>
        Answer(await tenants.ListKeysAsync(id, cancellationToken).ConfigureAwait(false));

    internal static async Task<Results<NoContent, ProblemHttpResult>> RevokeKeyAsync(
        string id, string keyId, TenantAdministration tenants, CancellationToken cancellationToken)
    {
        var result = await tenants.RevokeKeyAsync(id, keyId, cancellationToken).ConfigureAwait(false);
        return result.Error is { } error ? ToProblem(error) : TypedResults.NoContent();
    }

    /// <summary>The problem an <see cref="AdminError"/> is answered with.</summary>
    public static ProblemHttpResult ToProblem(AdminError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.Errors is { } errors
            ? Problems.Validation(error.Code, error.Detail, errors)
            : TypedResults.Problem(error.Detail, statusCode: error.Status, title: error.Title, type: $"urn:inference:problem:{error.Code}",
                extensions: new Dictionary<string, object?> { ["code"] = error.Code });
    }

    private static Results<Ok<T>, ProblemHttpResult> Answer<T>(AdminResult<T> result)
        where T : class =>
        result.Error is { } error ? ToProblem(error) : TypedResults.Ok(result.Value!);

    /// <summary>The body, read as every JSON body of this API is (<see cref="JsonRequestBody"/>), and present.</summary>
    private static async Task<(T? Value, ProblemHttpResult? Problem)> ReadAsync<T>(HttpRequest http, JsonOptions json,
        CancellationToken cancellationToken)
        where T : class
    {
        var (body, problem) = await JsonRequestBody.ReadAsync<T>(http, MaxBodyBytes, json.SerializerOptions, cancellationToken)
            .ConfigureAwait(false);
        if (problem is not null)
            return (null, problem);
        return body is null ? (null, Problems.InvalidJson("The body must be a JSON object.")) : (body, null);
    }
}
