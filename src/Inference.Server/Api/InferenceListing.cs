using System.ComponentModel;
using System.Globalization;
using System.Text.Json.Nodes;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.EntityFrameworkCore;
using Microsoft.OpenApi;

namespace Inference.Server.Api;

/// <summary>
/// <c>GET /v1/inferences</c>: the caller's tenant's requests, newest first, a page at a time. Pages are a keyset over
/// (<c>created_at</c>, id), both descending, so a request submitted while a client pages never shifts the pages after
/// the one it has read, and every page is one range scan of the index on (tenant, created_at, id).
/// </summary>
public static class InferenceListing
{
    public const int DefaultLimit = 20;
    public const int MaxLimit = 100;

    internal static async Task<Results<Ok<InferenceListResponse>, ProblemHttpResult>> ListAsync(
        [FromQuery, Description("Only requests in this status.")] string? status,
        [FromQuery, Description("Only requests for this model id.")] string? model,
        [FromQuery, Description("How many requests a page holds, 1 to 100; 20 when absent.")] string? limit,
        [FromQuery, Description("The next_cursor of the previous page; absent for the first page.")] string? cursor,
        HttpContext http,
        InferenceDbContext db,
        CancellationToken cancellationToken)
    {
        var tenantId = http.User.TenantId();

        // A parameter given twice is refused rather than joined or half-read: the client meant something else.
        var pageSize = DefaultLimit;
        if (Repeated(http, "limit") || (limit is not null
            && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) || pageSize is < 1 or > MaxLimit)))
        {
            return Invalid("limit", ErrorCodes.LimitInvalid,
                $"'limit' must be one whole number from 1 to {MaxLimit}, not '{InputText.Printable(limit)}'.");
        }

        var state = status is null ? null : InferenceStates.FromApi(status);
        if (Repeated(http, "status") || (status is not null && state is null))
        {
            return Invalid("status", ErrorCodes.StatusInvalid,
                $"'status' must be one of {string.Join(", ", ApiStatuses)}, not '{InputText.Printable(status)}'.");
        }

        // PostgreSQL cannot even compare text holding U+0000, and no model id holds a control character or a lone surrogate.
        if (Repeated(http, "model") || (model is not null && InputText.FindViolation(model) is not null))
            return Invalid("model", ErrorCodes.ModelInvalid, $"'model' must be one model id, not '{InputText.Printable(model)}'.");

        var after = cursor is null ? null : InferenceCursor.Decode(cursor, tenantId);
        if (Repeated(http, "cursor") || (cursor is not null && after is null))
        {
            return Invalid("cursor", ErrorCodes.CursorInvalid,
                "'cursor' must be the next_cursor of a page this API key's tenant has read, unchanged.");
        }

        // One more than the page, to know whether another page follows without a count.
        var rows = await Page(db, tenantId, state, model, after).Take(pageSize + 1)
            .Select(x => new InferenceState
            {
                // What an item shows, and no more: a request that has not ended still holds its inputs, up to megabytes.
                CorrelationId = x.CorrelationId,
                CurrentState = x.CurrentState,
                Model = x.Model,
                CreatedAt = x.CreatedAt,
                UpdatedAt = x.UpdatedAt,
                PromptTokens = x.PromptTokens,
                CompletionTokens = x.CompletionTokens,
                ErrorCode = x.ErrorCode,
                ErrorMessage = x.ErrorMessage,
                History = x.History,
                Metadata = x.Metadata,
            })
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        var page = rows.Take(pageSize).ToList();
        var next = rows.Count > pageSize ? new InferenceCursor(page[^1].CreatedAt, page[^1].CorrelationId).Encode(tenantId) : null;
        return TypedResults.Ok(new InferenceListResponse([.. page.Select(InferenceView.Item)], next));
    }

    /// <summary>
    /// The tenant's requests after <paramref name="after"/> in the listing's order, filtered. The specs check
    /// that each database serves it from the index.
    /// </summary>
    internal static IQueryable<InferenceState> Page(InferenceDbContext db, string tenantId, string? state, string? model, InferenceCursor? after)
    {
        var query = db.Inferences.AsNoTracking().Where(x => x.TenantId == tenantId);
        if (state is not null)
            query = query.Where(x => x.CurrentState == state);
        if (model is not null)
            query = query.Where(x => x.Model == model);
        if (after is { } position)
        {
            // "Strictly before (created_at, id)", written so that the range on created_at bounds the index scan and the id
            // only breaks ties among requests of the same instant. Both sides are compared exactly: created_at as it was
            // stored (milliseconds on PostgreSQL, ticks on SQLite), and the id as each database orders its ids.
            query = query.Where(x => x.CreatedAt <= position.CreatedAt
                && (x.CreatedAt < position.CreatedAt || x.CorrelationId.CompareTo(position.Id) < 0));
        }

        return query.OrderByDescending(x => x.CreatedAt).ThenByDescending(x => x.CorrelationId);
    }

    /// <summary>Gives the parameters, which are read as text so that a bad value gets our problem, their real types.</summary>
    internal static Task DescribeParametersAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
        {
            if (parameter.Name == "limit")
            {
                parameter.Schema = new OpenApiSchema
                {
                    Type = JsonSchemaType.Integer,
                    Format = "int32",
                    Minimum = "1",
                    Maximum = MaxLimit.ToString(CultureInfo.InvariantCulture),
                    Default = JsonValue.Create(DefaultLimit),
                };
            }
            else if (parameter.Name == "status")
            {
                parameter.Schema = new OpenApiSchema
                {
                    Type = JsonSchemaType.String,
                    Enum = [.. ApiStatuses.Select(s => (JsonNode)JsonValue.Create(s))],
                };
            }
        }

        return Task.CompletedTask;
    }

    private static IEnumerable<string> ApiStatuses =>
        InferenceStates.UnfinishedStates.Concat(InferenceStates.FinalStates).Select(InferenceStates.ToApi);

    private static bool Repeated(HttpContext http, string parameter) => http.Request.Query[parameter].Count > 1;

    private static ProblemHttpResult Invalid(string parameter, string code, string detail) =>
        Problems.Validation(code, detail, [new FieldError(parameter, code, detail)]);
}
