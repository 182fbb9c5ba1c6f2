using Inference.Server.Persistence;
using Inference.Server.Webhooks;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Api.Admin;

/// <summary>The operators' webhook routes: each tenant's signing secret, and the deliveries that gave up.</summary>
public static class WebhooksAdminApi
{
    /// <summary>Most deliveries one list returns.</summary>
    public const int MaxListLimit = 200;

    private const string TenantIdDescription = "The tenant's id.";

    public static RouteGroupBuilder MapWebhooksAdminApiV1(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/admin/v1").RequireAdminToken().WithTags("Admin")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/tenants/{id}/webhook-secret", GetSecretAsync).WithName("GetTenantWebhookSecret")
            .WithDocs("Read a tenant's webhook secret",
                "The `whsec_` secret the tenant's webhooks are signed with (Standard Webhooks). " +
                "An unknown tenant is `404`.")
            .WithParameterDocs("id", TenantIdDescription);
        group.MapPost("/tenants/{id}/webhook-secret/rotate", RotateSecretAsync).WithName("RotateTenantWebhookSecret")
            .WithDocs("Rotate a tenant's webhook secret",
                "Issues a new secret and answers it; for 24 hours every delivery carries a signature with the previous " +
                "secret (first) and one with the new, so receivers can switch without losing events.")
            .WithParameterDocs("id", TenantIdDescription);
        group.MapGet("/webhook-deliveries", ListDeliveriesAsync).WithName("ListWebhookDeliveries")
            .WithDocs("List webhook deliveries",
                "Deliveries newest first, by `status` (e.g. `failed`: the retry schedule ran out or the receiver said `410`), " +
                "at most `limit` of them.")
            .WithParameterDocs("status", "`pending`, `delivered` or `failed`; a bad one is `400`.")
            .WithParameterDocs("limit", "How many, 1 to 200 (50 when absent).")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapPost("/webhook-deliveries/{id}/retry", RetryDeliveryAsync).WithName("RetryWebhookDelivery")
            .WithDocs("Send a failed webhook delivery again",
                "Puts a failed delivery back on the retry schedule from its start, same `webhook-id`. A delivery that has not " +
                "failed is `409`; an unknown one `404`.")
            .WithParameterDocs("id", "The delivery's id, as the list shows it.")
            .ProducesProblem(StatusCodes.Status409Conflict);
        return group;
    }

    internal static async Task<Results<Ok<WebhookSecretResponse>, ProblemHttpResult>> GetSecretAsync(
        string id, InferenceDbContext db, CancellationToken cancellationToken)
    {
        var tenant = await TenantWebhookSecrets.EnsureAsync(db, id, cancellationToken).ConfigureAwait(false);
        return tenant is null ? TenantNotFound(id) : TypedResults.Ok(new WebhookSecretResponse(tenant.WebhookSecret!));
    }

    internal static async Task<Results<Ok<WebhookSecretResponse>, ProblemHttpResult>> RotateSecretAsync(
        string id, InferenceDbContext db, TimeProvider clock, CancellationToken cancellationToken)
    {
        var tenant = await TenantWebhookSecrets.RotateAsync(db, id, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        return tenant is null ? TenantNotFound(id) : TypedResults.Ok(new WebhookSecretResponse(tenant.WebhookSecret!));
    }

    internal static async Task<Results<Ok<WebhookDeliveryListResponse>, ProblemHttpResult>> ListDeliveriesAsync(
        InferenceDbContext db, CancellationToken cancellationToken, string? status = null, int? limit = null)
    {
        if (status is not null && !WebhookDeliveryStatus.All.Contains(status))
        {
            return Problems.Validation(Inference.Orchestration.ErrorCodes.StatusInvalid,
                $"'status' must be one of: {string.Join(", ", WebhookDeliveryStatus.All)}.",
                [new FieldError("status", Inference.Orchestration.ErrorCodes.StatusInvalid, "Unknown status.")]);
        }

        if (limit is < 1 or > MaxListLimit)
        {
            return Problems.Validation(Inference.Orchestration.ErrorCodes.LimitInvalid, $"'limit' must be a whole number from 1 to {MaxListLimit}.",
                [new FieldError("limit", Inference.Orchestration.ErrorCodes.LimitInvalid, "Out of range.")]);
        }

        var query = db.WebhookDeliveries.AsNoTracking();
        if (status is not null)
            query = query.Where(x => x.Status == status);
        var deliveries = await query.OrderByDescending(x => x.CreatedAt).Take(limit ?? 50)
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        return TypedResults.Ok(new WebhookDeliveryListResponse([.. deliveries.Select(WebhookDeliveryResponse.From)]));
    }

    internal static async Task<Results<Ok<WebhookDeliveryResponse>, ProblemHttpResult>> RetryDeliveryAsync(
        string id, InferenceDbContext db, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var deliveryId))
            return DeliveryNotFound(id);

        // Only a delivery that gave up: one still pending is on its way, one delivered is done. It starts the schedule
        // again, due now.
        var now = clock.GetUtcNow();
        var updated = await db.WebhookDeliveries.Where(x => x.Id == deliveryId && x.Status == WebhookDeliveryStatus.Failed)
            .ExecuteUpdateAsync(set => set
                .SetProperty(x => x.Status, WebhookDeliveryStatus.Pending)
                .SetProperty(x => x.Attempts, 0)
                .SetProperty(x => x.NextAttemptAt, now)
                .SetProperty(x => x.LeaseUntil, (DateTimeOffset?)null), cancellationToken).ConfigureAwait(false);

        var delivery = await db.WebhookDeliveries.AsNoTracking().SingleOrDefaultAsync(x => x.Id == deliveryId, cancellationToken)
            .ConfigureAwait(false);
        if (delivery is null)
            return DeliveryNotFound(id);
        if (updated == 0)
        {
            return TypedResults.Problem($"The delivery is {delivery.Status}; only a failed delivery can be re-sent.",
                statusCode: StatusCodes.Status409Conflict, title: "The delivery has not failed",
                type: "urn:inference:problem:webhook_delivery_not_failed",
                extensions: new Dictionary<string, object?> { ["code"] = "webhook_delivery_not_failed" });
        }

        return TypedResults.Ok(WebhookDeliveryResponse.From(delivery));
    }

    private static ProblemHttpResult TenantNotFound(string id) =>
        TypedResults.Problem($"There is no tenant '{Inference.Orchestration.InputText.Printable(id)}'.", statusCode: StatusCodes.Status404NotFound,
            title: "No such tenant", type: "urn:inference:problem:tenant_not_found",
            extensions: new Dictionary<string, object?> { ["code"] = Inference.Orchestration.ErrorCodes.TenantNotFound });

    private static ProblemHttpResult DeliveryNotFound(string id) =>
        TypedResults.Problem($"There is no webhook delivery '{Inference.Orchestration.InputText.Printable(id)}'.", statusCode: StatusCodes.Status404NotFound,
            title: "No such webhook delivery", type: "urn:inference:problem:webhook_delivery_not_found",
            extensions: new Dictionary<string, object?> { ["code"] = "webhook_delivery_not_found" });
}

/// <summary>A tenant's webhook signing secret.</summary>
public sealed record WebhookSecretResponse(string Secret);

public sealed record WebhookDeliveryListResponse(IReadOnlyList<WebhookDeliveryResponse> Data);

/// <summary>One delivery as an operator sees it (without its body).</summary>
public sealed record WebhookDeliveryResponse(
    Guid Id,
    Guid InferenceId,
    string TenantId,
    string Type,
    string Url,
    string Status,
    int Attempts,
    int? LastStatusCode,
    string? LastError,
    DateTimeOffset? LastAttemptAt,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset CreatedAt)
{
    public static WebhookDeliveryResponse From(WebhookDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        return new(delivery.Id, delivery.InferenceId, delivery.TenantId, delivery.EventType, delivery.Url, delivery.Status,
            delivery.Attempts, delivery.LastStatusCode, delivery.LastError, delivery.LastAttemptAt,
            delivery.Status == WebhookDeliveryStatus.Pending ? delivery.NextAttemptAt : null, delivery.CreatedAt);
    }
}
