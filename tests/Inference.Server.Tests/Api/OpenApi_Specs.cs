using System.Net.Http.Json;
using System.Text.Json;

namespace Inference.Server.Tests.Api;

public sealed class When_a_client_reads_the_openapi_document(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    [Fact]
    public async Task Should_describe_the_model_of_a_submission_as_a_string()
    {
        using var client = app.CreateClient();

        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        // The model is bound by a converter of our own, whose JSON the schema generator cannot see by itself.
        var model = document.GetProperty("components").GetProperty("schemas").GetProperty("CreateInferenceRequest")
            .GetProperty("properties").GetProperty("model");
        Assert.Contains("string", model.GetProperty("type").EnumerateArray().Select(type => type.GetString()));
    }

    [Fact]
    public async Task Should_describe_the_input_as_one_text_or_up_to_128_and_the_metadata_with_its_limits()
    {
        using var client = app.CreateClient();

        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var request = document.GetProperty("components").GetProperty("schemas").GetProperty("CreateInferenceRequest");
        Assert.Equal(["model", "input"], request.GetProperty("required").EnumerateArray().Select(r => r.GetString()));
        var shapes = request.GetProperty("properties").GetProperty("input").GetProperty("oneOf").EnumerateArray().ToList();
        Assert.Equal(["string", "array"], shapes.Select(shape => shape.GetProperty("type").GetString()));
        Assert.Equal(128, shapes[1].GetProperty("maxItems").GetInt32());
        var metadata = request.GetProperty("properties").GetProperty("metadata");
        Assert.Equal((16, 64, 512), (metadata.GetProperty("maxProperties").GetInt32(),
            metadata.GetProperty("propertyNames").GetProperty("maxLength").GetInt32(),
            metadata.GetProperty("additionalProperties").GetProperty("maxLength").GetInt32()));
    }

    [Fact]
    public async Task Should_describe_the_listing_its_parameters_and_its_page()
    {
        using var client = app.CreateClient();

        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var list = document.GetProperty("paths").GetProperty("/v1/inferences").GetProperty("get");
        Assert.Equal("ListInferences", list.GetProperty("operationId").GetString());
        var parameters = list.GetProperty("parameters").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.Equal(["cursor", "limit", "model", "status"], parameters.Keys.Order());
        Assert.All(parameters.Values, p => Assert.Equal("query", p.GetProperty("in").GetString()));
        Assert.All(parameters.Values, p => Assert.False(p.TryGetProperty("required", out var required) && required.GetBoolean()));
        var limit = parameters["limit"].GetProperty("schema");
        Assert.Equal(("integer", 1, 100, 20), (limit.GetProperty("type").GetString(), limit.GetProperty("minimum").GetInt32(),
            limit.GetProperty("maximum").GetInt32(), limit.GetProperty("default").GetInt32()));
        Assert.Equal(["submitted", "quota_reserved", "inferring", "completed", "failed", "canceled"],
            parameters["status"].GetProperty("schema").GetProperty("enum").EnumerateArray().Select(s => s.GetString()));

        var responses = list.GetProperty("responses");
        Assert.EndsWith("/InferenceListResponse", responses.GetProperty("200").GetProperty("content").GetProperty("application/json")
            .GetProperty("schema").GetProperty("$ref").GetString(), StringComparison.Ordinal);
        Assert.True(responses.GetProperty("400").GetProperty("content").TryGetProperty("application/problem+json", out _));
        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.Equal(["data", "next_cursor"], schemas.GetProperty("InferenceListResponse").GetProperty("properties").EnumerateObject().Select(p => p.Name));
        var item = schemas.GetProperty("InferenceListItemResponse").GetProperty("properties").EnumerateObject().Select(p => p.Name).ToList();
        var single = schemas.GetProperty("InferenceResponse").GetProperty("properties").EnumerateObject().Select(p => p.Name);
        Assert.Equal(single.Where(name => name is not ("output" or "webhook")), item);
    }

    [Fact]
    public async Task Should_describe_the_models_routes_and_their_openai_errors()
    {
        using var client = app.CreateClient();

        var document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var paths = document.GetProperty("paths");
        var list = paths.GetProperty("/v1/models").GetProperty("get");
        var get = paths.GetProperty("/v1/models/{id}").GetProperty("get");
        Assert.Equal(("ListModels", "GetModel"), (list.GetProperty("operationId").GetString(), get.GetProperty("operationId").GetString()));
        Assert.EndsWith("/ModelListResponse", SchemaRef(list, "200"), StringComparison.Ordinal);
        Assert.EndsWith("/ModelResponse", SchemaRef(get, "200"), StringComparison.Ordinal);
        Assert.All([SchemaRef(list, "401"), SchemaRef(get, "401"), SchemaRef(get, "404")],
            reference => Assert.EndsWith("/OpenAiErrorResponse", reference, StringComparison.Ordinal));

        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.Equal(["id", "object", "created", "owned_by", "task", "max_input_tokens", "max_output_tokens", "dimensions", "device"],
            schemas.GetProperty("ModelResponse").GetProperty("properties").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["message", "type", "param", "code"],
            schemas.GetProperty("OpenAiError").GetProperty("properties").EnumerateObject().Select(p => p.Name));
    }

    private static string? SchemaRef(JsonElement operation, string status) =>
        operation.GetProperty("responses").GetProperty(status).GetProperty("content").GetProperty("application/json")
            .GetProperty("schema").GetProperty("$ref").GetString();
}
