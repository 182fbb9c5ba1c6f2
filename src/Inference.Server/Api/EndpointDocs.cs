using Microsoft.AspNetCore.Mvc;
using Microsoft.OpenApi;

namespace Inference.Server.Api;

/// <summary>
/// How a route describes itself in <c>/openapi/v1.json</c>. The OpenAPI specs hold every mapped route to it, routes added
/// later included: a summary, a description, at least one <c>4xx</c> response, and a schema for every response. Only the
/// infrastructure (<c>/openapi</c>, <c>/docs</c>, <c>/health</c>, <c>/metrics</c>) is left out. Every parameter needs a
/// description too: XML docs give the bound ones theirs, <see cref="WithParameterDocs"/> the rest.
/// </summary>
/// <remarks>
/// A route reads, top to bottom, as its reference page does:
/// <code>
/// group.MapPost("/", CreateAsync)
///     .WithName("CreateInference")
///     .WithDocs("Submit an inference", "Stores the request and answers 202 at once; ...")
///     .WithRequestHeader(CancelAfterHeader.Name, "The client's deadline: ...")
///     .ProducesProblems(400, 413, 415, 429);
/// </code>
/// Success bodies come from the handler's typed results (<c>Results&lt;Ok&lt;T&gt;, ...&gt;</c>); a
/// <c>ProblemHttpResult</c> says nothing of its statuses, so the problems a handler can answer are listed here. What
/// follows from the route itself is added by <see cref="ApiDocument"/>: the security scheme (the API key, or the admin
/// token under <c>/admin</c>) from <c>RequireAuthorization</c>, and <c>Retry-After</c> on every <c>429</c> and <c>503</c>.
/// A route group may declare the problems all its routes share (<c>401</c>, <c>503</c>) once.
/// </remarks>
public static class EndpointDocs
{
    /// <summary>The media type of every error outside the OpenAI-compatible routes (RFC 9457).</summary>
    public const string ProblemJson = "application/problem+json";

    /// <summary>A one-line summary and a description (Markdown) of what the route does and when it answers what.</summary>
    public static TBuilder WithDocs<TBuilder>(this TBuilder builder, string summary, string description)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(summary);
        ArgumentException.ThrowIfNullOrWhiteSpace(description);
        return builder.WithSummary(summary).WithDescription(description);
    }

    /// <summary>
    /// The statuses the route may answer with a problem+json body (<see cref="Problems"/>): the body's schema is the
    /// API's problem, with its stable <c>code</c> (and <c>errors</c> for a <c>400</c>).
    /// </summary>
    public static TBuilder ProducesProblems<TBuilder>(this TBuilder builder, params int[] statuses)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(statuses);
        foreach (var status in statuses)
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ProblemDetails), [ProblemJson]));
        return builder;
    }

    /// <summary>The statuses an OpenAI-compatible route may answer with OpenAI's error body (<see cref="OpenAiErrors"/>).</summary>
    public static TBuilder ProducesOpenAiErrors<TBuilder>(this TBuilder builder, params int[] statuses)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(statuses);
        foreach (var status in statuses)
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(OpenAiErrorResponse), ["application/json"]));
        return builder;
    }

    /// <summary>A request header the route reads (<c>Cancel-After</c>, <c>Prefer</c>, <c>Idempotency-Key</c>, ...).</summary>
    /// <param name="builder">The route.</param>
    /// <param name="name">The header's name.</param>
    /// <param name="description">What it does, its syntax, and the error codes a bad value gets.</param>
    /// <param name="schema">Its value's schema; a string when null.</param>
    /// <param name="required">Whether a request without it is refused.</param>
    public static TBuilder WithRequestHeader<TBuilder>(this TBuilder builder, string name, string description,
        OpenApiSchema? schema = null, bool required = false)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = name,
                In = ParameterLocation.Header,
                Description = description,
                Required = required,
                Schema = schema ?? new OpenApiSchema { Type = JsonSchemaType.String },
            });
            return Task.CompletedTask;
        });
    }

    /// <summary>
    /// Describes a parameter the route binds (a path segment such as <c>{id}</c>, a query parameter), which the generator
    /// names and types but cannot explain.
    /// </summary>
    public static TBuilder WithParameterDocs<TBuilder>(this TBuilder builder, string name, string description)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(description);
        return builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>().Where(p => p.Name == name) ?? [])
                parameter.Description = description;
            return Task.CompletedTask;
        });
    }

    /// <summary>A header the route sets on its answers with <paramref name="status"/> (e.g. <c>Location</c> on a <c>202</c>).</summary>
    public static TBuilder WithResponseHeader<TBuilder>(this TBuilder builder, int status, string name, string description,
        OpenApiSchema? schema = null)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            ApiDocument.AddHeader(operation, status, name, description, schema ?? new OpenApiSchema { Type = JsonSchemaType.String });
            return Task.CompletedTask;
        });
    }
}
