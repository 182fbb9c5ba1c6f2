using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Inference.Server.Api;
using Json.Schema;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

/// <summary>
/// The app with every optional family of routes mapped (an operator token is set, for the routes under <c>/admin</c>),
/// so that the document specs see every route a deployment can have.
/// </summary>
public sealed class DocumentedApp() : EmbeddedApp(new Dictionary<string, string?>
{
    ["Admin:Token"] = "openapi-specs-admin-token-5f0c2a7e9b1d4c3a8e6f",
});

/// <summary>
/// <c>/openapi/v1.json</c> tells the whole truth: every route the app maps (found by enumerating its endpoints, not from a
/// list kept by hand, so routes added later are held to it too) is in it with a summary, a description, its errors and
/// its security, every parameter described, and the document is valid OpenAPI 3.1. Routes meet it with
/// <see cref="EndpointDocs"/>.
/// </summary>
public sealed partial class When_the_openapi_document_is_checked_against_every_route(DocumentedApp app) : IClassFixture<DocumentedApp>
{
    /// <summary>
    /// Infrastructure, not API: the document itself, its reference page, and the probes and metrics that operators'
    /// tools (Kubernetes, Prometheus) read. docs/operations.md describes them.
    /// </summary>
    private static readonly string[] Infrastructure = ["/openapi", "/docs", "/health", "/metrics"];

    [Fact]
    public async Task Should_describe_every_mapped_route_with_a_summary_a_description_errors_and_security()
    {
        var document = await ReadDocumentAsync();
        var paths = document.GetProperty("paths");
        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        var openAiRoutes = app.Services.GetRequiredService<OpenAiRoutes>();
        var failures = new List<string>();
        var checkedOperations = 0;

        foreach (var (endpoint, path) in ApiEndpoints())
        {
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods;
            if (methods is null or { Count: 0 })
            {
                failures.Add($"{path}: answers every HTTP method, which no document can describe; map it with a method.");
                continue;
            }

            foreach (var method in methods)
            {
                var name = $"{method} {path}";
                if (!paths.TryGetProperty(path, out var item) || !item.TryGetProperty(method.ToLowerInvariant(), out var operation))
                {
                    failures.Add($"{name}: not in the document.");
                    continue;
                }

                checkedOperations++;
                failures.AddRange(CheckOperation(name, path, operation, endpoint, schemes, openAiRoutes.Serves(path)));
            }
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        Assert.True(checkedOperations >= 6, $"Only {checkedOperations} operations were found: the endpoints were not enumerated.");
    }

    [Fact]
    public async Task Should_be_valid_openapi_3_1()
    {
        var document = await ReadDocumentAsync();
        var schema = JsonSchema.FromText(await ReadSchemaAsync());

        var result = schema.Evaluate(document, new EvaluationOptions { OutputFormat = OutputFormat.List });

        Assert.True(result.IsValid, string.Join(Environment.NewLine, (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .Select(d => $"{d.InstanceLocation}: {string.Join("; ", d.Errors!.Values)}")));
        Assert.StartsWith("3.1.", document.GetProperty("openapi").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_resolve_every_reference_within_the_document()
    {
        var document = await ReadDocumentAsync();

        var unresolved = References(document).Where(reference => Resolve(document, reference) is null).Distinct().ToList();

        Assert.Empty(unresolved);
    }

    [Fact]
    public async Task Should_declare_the_api_key_both_ways_and_the_admin_token()
    {
        var document = await ReadDocumentAsync();

        var schemes = document.GetProperty("components").GetProperty("securitySchemes");
        var bearer = schemes.GetProperty(ApiDocument.ApiKeyBearer);
        Assert.Equal(("http", "bearer"), (bearer.GetProperty("type").GetString(), bearer.GetProperty("scheme").GetString()));
        var header = schemes.GetProperty(ApiDocument.ApiKeyHeader);
        Assert.Equal(("apiKey", "header", "X-Api-Key"),
            (header.GetProperty("type").GetString(), header.GetProperty("in").GetString(), header.GetProperty("name").GetString()));
        var admin = schemes.GetProperty(ApiDocument.AdminBearer);
        Assert.Equal(("http", "bearer"), (admin.GetProperty("type").GetString(), admin.GetProperty("scheme").GetString()));
        var get = document.GetProperty("paths").GetProperty("/v1/inferences/{id}").GetProperty("get");
        Assert.Equal([ApiDocument.ApiKeyBearer, ApiDocument.ApiKeyHeader],
            get.GetProperty("security").EnumerateArray().Select(requirement => requirement.EnumerateObject().Single().Name));
    }

    [Fact]
    public async Task Should_describe_the_submissions_headers_and_its_problems()
    {
        var document = await ReadDocumentAsync();

        var create = document.GetProperty("paths").GetProperty("/v1/inferences").GetProperty("post");
        var cancelAfter = Assert.Single(create.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "Cancel-After");
        Assert.Equal("header", cancelAfter.GetProperty("in").GetString());
        var responses = create.GetProperty("responses");
        Assert.True(responses.GetProperty("202").GetProperty("headers").TryGetProperty("Location", out _));
        Assert.True(responses.GetProperty("429").GetProperty("headers").TryGetProperty("Retry-After", out _));
        Assert.True(responses.GetProperty("503").GetProperty("headers").TryGetProperty("Retry-After", out _));
        Assert.All(new[] { "400", "401", "413", "415", "429", "503" }, status => Assert.EndsWith("/ProblemDetails",
            responses.GetProperty(status).GetProperty("content").GetProperty("application/problem+json").GetProperty("schema")
                .GetProperty("$ref").GetString(), StringComparison.Ordinal));

        var problem = document.GetProperty("components").GetProperty("schemas").GetProperty("ProblemDetails");
        Assert.Contains("code", problem.GetProperty("required").EnumerateArray().Select(r => r.GetString()));
        Assert.True(problem.GetProperty("properties").TryGetProperty("errors", out _));
    }

    /// <summary>Every route the app maps, but the infrastructure's, with the path as OpenAPI writes it.</summary>
    private IEnumerable<(RouteEndpoint Endpoint, string Path)> ApiEndpoints() =>
        app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(endpoint => (endpoint, Path: OpenApiPath(endpoint.RoutePattern.RawText ?? "")))
            .Where(x => !Infrastructure.Any(prefix => x.Path == prefix || x.Path.StartsWith(prefix + "/", StringComparison.Ordinal)));

    private static IEnumerable<string> CheckOperation(string name, string path, JsonElement operation, RouteEndpoint endpoint,
        JsonElement schemes, bool openAi)
    {
        if (Text(operation, "summary") is null)
            yield return $"{name}: no summary (.WithDocs).";
        if (Text(operation, "description") is null)
            yield return $"{name}: no description (.WithDocs).";
        if (Text(operation, "operationId") is null)
            yield return $"{name}: no operationId (.WithName).";

        var responses = operation.TryGetProperty("responses", out var found) ? found.EnumerateObject().ToList() : [];
        if (!responses.Any(r => r.Name.StartsWith('4')))
            yield return $"{name}: no 4xx response (.ProducesProblems).";
        foreach (var response in responses.Where(r => r.Name[0] is '4' or '5'))
        {
            var (mediaType, schema) = openAi ? ("application/json", "/OpenAiErrorResponse") : (EndpointDocs.ProblemJson, "/ProblemDetails");
            var reference = response.Value.TryGetProperty("content", out var content) && content.TryGetProperty(mediaType, out var media)
                && media.TryGetProperty("schema", out var body) ? Text(body, "$ref") : null;
            if (reference?.EndsWith(schema, StringComparison.Ordinal) != true)
                yield return $"{name}: its {response.Name} is not {mediaType} with the schema {schema[1..]}.";
        }

        var undescribed = operation.TryGetProperty("parameters", out var all)
            ? all.EnumerateArray().Where(p => Text(p, "description") is null).Select(p => Text(p, "name"))
            : [];
        foreach (var parameter in undescribed)
            yield return $"{name}: the parameter '{parameter}' has no description (.WithParameterDocs).";

        foreach (var parameter in RouteParameter().Matches(path).Select(m => m.Groups[1].Value))
        {
            var declared = operation.TryGetProperty("parameters", out var parameters) && parameters.EnumerateArray().Any(p =>
                Text(p, "name") == parameter && Text(p, "in") == "path" && p.TryGetProperty("required", out var required) && required.GetBoolean());
            if (!declared)
                yield return $"{name}: the path parameter '{parameter}' is not declared.";
        }

        var admin = path.StartsWith("/admin/", StringComparison.Ordinal);
        var authorized = endpoint.Metadata.GetMetadata<IAuthorizeData>() is not null && endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null;
        if (!admin && !authorized)
            yield break;

        var security = operation.TryGetProperty("security", out var requirements)
            ? requirements.EnumerateArray().SelectMany(r => r.EnumerateObject().Select(p => p.Name)).ToList()
            : [];
        string[] expected = admin ? [ApiDocument.AdminBearer] : [ApiDocument.ApiKeyBearer, ApiDocument.ApiKeyHeader];
        if (!security.Order().SequenceEqual(expected.Order()))
            yield return $"{name}: its security is [{string.Join(", ", security)}], not [{string.Join(", ", expected)}].";
        foreach (var scheme in security.Where(scheme => !schemes.TryGetProperty(scheme, out _)))
            yield return $"{name}: the security scheme '{scheme}' is not in the components.";
        if (!responses.Any(r => r.Name == "401"))
            yield return $"{name}: requires authentication but declares no 401.";
    }

    /// <summary><c>/v1/inferences/{id:guid}/</c> as OpenAPI writes it: <c>/v1/inferences/{id}</c>.</summary>
    private static string OpenApiPath(string pattern) => "/" + RouteConstraint().Replace(pattern, "{$1}").Trim('/');

    private static string? Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            && !string.IsNullOrWhiteSpace(value.GetString())
            ? value.GetString()
            : null;

    private static IEnumerable<string> References(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p =>
            p.Name == "$ref" && p.Value.ValueKind == JsonValueKind.String ? [p.Value.GetString()!] : References(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().SelectMany(References),
        _ => [],
    };

    private static JsonElement? Resolve(JsonElement document, string reference)
    {
        if (!reference.StartsWith("#/", StringComparison.Ordinal))
            return null;
        var current = document;
        foreach (var token in reference[2..].Split('/').Select(t => Uri.UnescapeDataString(t).Replace("~1", "/").Replace("~0", "~")))
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(token, out current))
                return null;
        }

        return current;
    }

    private async Task<JsonElement> ReadDocumentAsync()
    {
        using var client = app.CreateClient();
        return await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
    }

    private static async Task<string> ReadSchemaAsync()
    {
        await using var stream = typeof(When_the_openapi_document_is_checked_against_every_route).Assembly
            .GetManifestResourceStream("openapi-3.1-schema.json")!;
        using var reader = new StreamReader(stream);
        var schema = await reader.ReadToEndAsync();

        // JsonSchema.Net 8.0.5 fails (KeyNotFoundException) on a patternProperties key that holds '/', which a JSON
        // pointer escapes as ~1; the schema's only one is "^/" for paths. "^\x2F" is the same regular expression.
        const string Paths = "\"^/\"";
        Assert.Contains(Paths, schema, StringComparison.Ordinal);
        return schema.Replace(Paths, "\"^\\\\x2F\"", StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\{\**([^}:=?]+)[^}]*\}")]
    private static partial Regex RouteConstraint();

    [GeneratedRegex(@"\{([^}]+)\}")]
    private static partial Regex RouteParameter();
}
