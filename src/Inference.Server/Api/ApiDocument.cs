using System.Globalization;
using Inference.Orchestration;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Inference.Server.Api;

/// <summary>
/// <c>/openapi/v1.json</c>, the API's contract, and its interactive reference at <c>/docs</c>. Routes describe
/// themselves (<see cref="EndpointDocs"/>); what follows from the platform rather than from one route is added here: the
/// security schemes and which routes need which, the problem schema with its stable <c>code</c>, <c>Retry-After</c>.
/// </summary>
public static class ApiDocument
{
    /// <summary>The API key as a bearer token: <c>Authorization: Bearer &lt;key&gt;</c>.</summary>
    public const string ApiKeyBearer = "ApiKey";

    /// <summary>The API key in its own header, <c>X-Api-Key: &lt;key&gt;</c>; either way is accepted.</summary>
    public const string ApiKeyHeader = "ApiKeyHeader";

    /// <summary>The operator's token (<c>Admin:Token</c>) as a bearer token, for the routes under <c>/admin</c>.</summary>
    public const string AdminBearer = "AdminToken";

    /// <summary>Where the interactive reference is served.</summary>
    public const string ReferencePath = "/docs";

    private static readonly Dictionary<string, string> TagDescriptions = new()
    {
        ["Inferences"] = "Submit requests, read and list them, cancel them. Every request runs asynchronously: a submission is answered `202` once it is stored.",
        ["Models"] = "The models this platform serves, in OpenAI's shape; errors on these routes are OpenAI's error body.",
    };

    /// <summary>Registers the document's transformers on <paramref name="openApi"/>.</summary>
    public static OpenApiOptions AddApiDocument(this OpenApiOptions openApi)
    {
        ArgumentNullException.ThrowIfNull(openApi);
        openApi.AddDocumentTransformer((document, _, _) =>
        {
            Describe(document);
            AddSecuritySchemes(document);
            return Task.CompletedTask;
        });
        openApi.AddOperationTransformer((operation, context, _) =>
        {
            AddSecurity(operation, context);
            AddRetryAfter(operation);
            return Task.CompletedTask;
        });
        openApi.AddSchemaTransformer((schema, context, _) =>
        {
            // The schema generator knows nothing of a custom converter's JSON; this one reads and writes strings.
            if (context.JsonPropertyInfo?.CustomConverter is FaithfulJsonString.Converter)
                schema.Type = JsonSchemaType.String | JsonSchemaType.Null;
            if (context.JsonPropertyInfo?.CustomConverter is InferenceMetadata.Converter)
                DescribeMetadata(schema, "The submitter's `metadata`, as it was sent; null when it had none.");
            if (context.JsonTypeInfo.Type == typeof(ProblemDetails) && context.JsonPropertyInfo is null)
                DescribeProblem(schema);
            if (context.JsonTypeInfo.Type == typeof(CreateInferenceRequest) && context.JsonPropertyInfo is null)
                DescribeSubmission(schema, context.ApplicationServices.GetRequiredService<IOptions<ApiOptions>>().Value);
            return Task.CompletedTask;
        });
        return openApi;
    }

    /// <summary>Maps <c>/openapi/v1.json</c> and the reference page at <see cref="ReferencePath"/>, both anonymous.</summary>
    public static IEndpointRouteBuilder MapApiDocument(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi().AllowAnonymous();
        app.MapScalarApiReference(ReferencePath, scalar => scalar
                .WithTitle("Inference platform API")
                .WithOpenApiRoutePattern("/openapi/{documentName}.json"))
            .AllowAnonymous();
        return app;
    }

    /// <summary>Adds header <paramref name="name"/> to the answers with <paramref name="status"/>, if the operation has them.</summary>
    internal static void AddHeader(OpenApiOperation operation, int status, string name, string description, IOpenApiSchema schema)
    {
        if (operation.Responses?.TryGetValue(status.ToString(CultureInfo.InvariantCulture), out var found) != true
            || found is not OpenApiResponse response)
            return;

        response.Headers ??= new Dictionary<string, IOpenApiHeader>();
        response.Headers[name] = new OpenApiHeader { Description = description, Schema = schema };
    }

    private static void Describe(OpenApiDocument document)
    {
        document.Info = new OpenApiInfo
        {
            Title = "Inference platform API",
            Version = "v1",
            Description = """
                Asynchronous ML inference with token quotas. A submission is answered `202 Accepted` once it is stored; read
                the request (or cancel it) at the URLs in that answer until it is `completed`, `failed` or `canceled`.

                Authenticate with an API key, as `Authorization: Bearer <key>` or `X-Api-Key: <key>`. Errors are RFC 9457
                problem+json with a stable `code` (a `400` also lists the fields at fault in `errors`), except on the
                OpenAI-compatible routes (`/v1/models`), which answer OpenAI's `{"error": {...}}`. A `429` or `503`
                carries `Retry-After`, in seconds.
                """,
        };

        document.Tags ??= new HashSet<OpenApiTag>();
        foreach (var tag in document.Tags.Where(tag => tag.Name is not null && TagDescriptions.ContainsKey(tag.Name)))
            tag.Description = TagDescriptions[tag.Name!];
    }

    private static void AddSecuritySchemes(OpenApiDocument document)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        var schemes = document.Components.SecuritySchemes;
        schemes.TryAdd(ApiKeyBearer, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "API key",
            Description = "An API key of the tenant, as `Authorization: Bearer <key>`. A missing, unknown or revoked key is answered `401`.",
        });
        schemes.TryAdd(ApiKeyHeader, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            Name = "X-Api-Key",
            In = ParameterLocation.Header,
            Description = "The same API key in a header of its own, for clients that cannot set `Authorization`.",
        });
        schemes.TryAdd(AdminBearer, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "The operator's token, the setting `Admin:Token`, as `Authorization: Bearer <token>`; only for the routes under `/admin`.",
        });
    }

    /// <summary>
    /// The routes under <c>/admin</c> take the operator's token, the others that require authorization an API key, either
    /// way; the rest (the document itself) need nothing.
    /// </summary>
    private static void AddSecurity(OpenApiOperation operation, OpenApiOperationTransformerContext context)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var admin = context.Description.RelativePath?.StartsWith("admin/", StringComparison.OrdinalIgnoreCase) == true;
        var authorized = metadata.OfType<IAuthorizeData>().Any() && !metadata.OfType<IAllowAnonymous>().Any();
        if (!admin && !authorized)
            return;

        // The references resolve against the document's components, which the document transformer fills only later.
        AddSecuritySchemes(context.Document!);
        operation.Security = admin
            ? [Requirement(AdminBearer, context.Document)]
            : [Requirement(ApiKeyBearer, context.Document), Requirement(ApiKeyHeader, context.Document)];
        if (!admin)
            AddRateLimitHeaders(operation);
    }

    private static OpenApiSecurityRequirement Requirement(string scheme, OpenApiDocument? document) =>
        new() { [new OpenApiSecuritySchemeReference(scheme, document)] = [] };

    /// <summary>OpenAI's <c>x-ratelimit-*</c> headers on every answer of an authenticated <c>/v1</c> route but the 401.</summary>
    private static void AddRateLimitHeaders(OpenApiOperation operation)
    {
        var number = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "0" };
        var duration = new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^[0-9]+(ms|s|m[0-9]+s|h[0-9]+m)$" };
        (string Name, string Description, IOpenApiSchema Schema)[] headers =
        [
            (RateLimitHeaders.LimitRequests, "The plan's `requests_per_minute`; absent when the plan has none.", number),
            (RateLimitHeaders.RemainingRequests, "Requests this UTC minute still admits.", number),
            (RateLimitHeaders.ResetRequests, "Time until the minute resets, e.g. `42s`.", duration),
            (RateLimitHeaders.LimitTokens, "The limit of the plan's tightest token window (fewest tokens left); absent when the plan limits no tokens.", number),
            (RateLimitHeaders.RemainingTokens, "Tokens that window still admits; reserved tokens count as used.", number),
            (RateLimitHeaders.ResetTokens, "Time until that window resets: `250ms`, `1s`, `6m0s`, `3h2m`.", duration),
        ];
        foreach (var status in operation.Responses?.Keys.ToList() ?? [])
        {
            if (status == "401" || !int.TryParse(status, CultureInfo.InvariantCulture, out var code))
                continue;
            foreach (var (name, description, schema) in headers)
                AddHeader(operation, code, name, description, schema);
        }
    }

    private static void AddRetryAfter(OpenApiOperation operation)
    {
        var seconds = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" };
        AddHeader(operation, StatusCodes.Status429TooManyRequests, "Retry-After", "Seconds to wait before sending the request again.", seconds);
        AddHeader(operation, StatusCodes.Status503ServiceUnavailable, "Retry-After",
            "Seconds to wait before sending the request again; nothing was done.", seconds);
    }

    /// <summary>
    /// The body of a submission as the validator holds it, where the generator sees only the raw <c>JsonElement</c> the
    /// request keeps (so that a wrong shape gets a precise error).
    /// </summary>
    private static void DescribeSubmission(OpenApiSchema schema, ApiOptions api)
    {
        var text = "Obeys the text rule: no control characters but tab, line feed and carriage return, no unpaired surrogates.";
        schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
        schema.Properties["model"] = new OpenApiSchema
        {
            Type = JsonSchemaType.String,
            Description = "A model id exactly as `GET /v1/models` lists it, e.g. `all-minilm-l6-v2`. Unknown: `400 model_not_found`.",
        };
        schema.Properties["input"] = new OpenApiSchema
        {
            Description = string.Create(CultureInfo.InvariantCulture,
                $"One text, or 1 to {api.MaxInputsPerRequest} texts (`Api:MaxInputsPerRequest`; more: `too_many_inputs`). Each holds at " +
                $"most {api.MaxInputCharacters} characters and at most the model's `max_input_tokens` tokens (`input_too_long`, " +
                $"at `input[i]`); inputs are never truncated. {text}"),
            OneOf =
            [
                new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = api.MaxInputCharacters },
                new OpenApiSchema
                {
                    Type = JsonSchemaType.Array,
                    MinItems = 1,
                    MaxItems = api.MaxInputsPerRequest,
                    Items = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = api.MaxInputCharacters },
                },
            ],
        };
        schema.Properties["metadata"] = DescribeMetadata(new OpenApiSchema(),
            "The submitter's own labels, stored with the request and shown with it, never read by the platform. Bad: " +
            "`metadata_invalid` (not an object of strings, an empty or repeated key), `metadata_too_many_keys`, " +
            "`metadata_key_too_long`, `metadata_value_too_long`, `metadata_invalid_character`, `metadata_invalid_unicode`.");
        schema.Required = new HashSet<string> { "model", "input" };
    }

    private static OpenApiSchema DescribeMetadata(OpenApiSchema schema, string description)
    {
        schema.Type = JsonSchemaType.Object | JsonSchemaType.Null;
        schema.Description = string.Create(CultureInfo.InvariantCulture,
            $"{description} At most {MetadataRules.MaxKeys} keys of 1 to {MetadataRules.MaxKeyLength} characters, string values " +
            $"of at most {MetadataRules.MaxValueLength}, under the text rule of the inputs.");
        schema.MaxProperties = MetadataRules.MaxKeys;
        schema.PropertyNames = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = MetadataRules.MaxKeyLength };
        schema.AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = MetadataRules.MaxValueLength };
        schema.Properties = null;
        return schema;
    }

    /// <summary>The API's problem: RFC 9457's members and the extensions of <see cref="Problems"/>.</summary>
    private static void DescribeProblem(OpenApiSchema schema)
    {
        schema.Description = "An error (RFC 9457). Switch on `code`, which is stable; `title` and `detail` are for people and may change.";
        schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
        schema.Properties["code"] = new OpenApiSchema
        {
            Type = JsonSchemaType.String,
            Description = "The stable error code, e.g. `input_too_long`, `inference_not_found`, `rate_limit_tokens`, `payload_too_large`.",
        };
        schema.Properties["errors"] = new OpenApiSchema
        {
            Type = JsonSchemaType.Array,
            Description = "On a `400`: every field at fault, the first of which the problem's `code` and `detail` repeat.",
            Items = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Required = new HashSet<string> { "field", "code", "message" },
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["field"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A JSON path into the body, e.g. `input[2]` or `metadata.customer`." },
                    ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The stable code of this field's error." },
                    ["message"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "For people." },
                },
            },
        };
        schema.Properties["inference_id"] = new OpenApiSchema
        {
            Type = JsonSchemaType.String,
            Format = "uuid",
            Description = "The request the problem is about, when it was stored (a `429` for quota, a `409`, a `503` after storing).",
        };
        schema.Properties["inference_status"] = new OpenApiSchema
        {
            Type = JsonSchemaType.String,
            Description = "On `409 inference_final`: the status the request ended in.",
        };
        schema.Properties["limit_name"] = new OpenApiSchema
        {
            Type = JsonSchemaType.String,
            Description = "On a quota `429` and on `400 request_exceeds_plan`: the plan limit that refused the request, e.g. `tokens_per_day`.",
        };
        schema.Properties["limit"] = new OpenApiSchema
        {
            Type = JsonSchemaType.Integer,
            Description = "On a quota `429` and on `400 request_exceeds_plan`: that limit's value.",
        };
        schema.Properties["used"] = new OpenApiSchema
        {
            Type = JsonSchemaType.Integer,
            Description = "On a quota `429`: what the window held when the request was decided (tokens used and reserved, requests, or unfinished requests).",
        };
        schema.Properties["requested"] = new OpenApiSchema
        {
            Type = JsonSchemaType.Integer,
            Description = "On a quota `429` and on `400 request_exceeds_plan`: what the request asked (its tokens or inputs, or 1 request).",
        };
        schema.Required ??= new HashSet<string>();
        schema.Required.Add("code");
    }
}
