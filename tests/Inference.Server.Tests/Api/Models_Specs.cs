using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;
using OpenAI;
using OpenAI.Models;

namespace Inference.Server.Tests.Api;

public sealed class When_a_client_reads_the_models(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    [Fact]
    public async Task Should_list_every_model_with_openais_fields_then_ours()
    {
        using var client = app.CreateDevClient();

        using var response = await client.GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var list = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["object", "data"], list.EnumerateObject().Select(member => member.Name));
        Assert.Equal("list", list.GetProperty("object").GetString());
        var model = Assert.Single(list.GetProperty("data").EnumerateArray());
        Assert.Equal(["id", "object", "created", "owned_by", "task", "max_input_tokens", "max_output_tokens", "dimensions", "device"],
            model.EnumerateObject().Select(member => member.Name));
        Assert.Equal((InferencesClient.Model, "model", "sentence-transformers", "embedding", "cpu"),
            (model.GetProperty("id").GetString(), model.GetProperty("object").GetString(), model.GetProperty("owned_by").GetString(),
                model.GetProperty("task").GetString(), model.GetProperty("device").GetString()));
        Assert.Equal((256, 384), (model.GetProperty("max_input_tokens").GetInt32(), model.GetProperty("dimensions").GetInt32()));
        Assert.Equal(JsonValueKind.Null, model.GetProperty("max_output_tokens").ValueKind);
        // The day the package that ships the model file was packed, 2024-09-22: the same in every process, whenever it started.
        Assert.Equal(1726963200, model.GetProperty("created").GetInt64());
    }

    [Fact]
    public async Task Should_read_one_model_exactly_as_it_is_listed()
    {
        using var client = app.CreateDevClient();

        var list = await client.GetFromJsonAsync<JsonElement>("/v1/models");
        using var response = await client.GetAsync($"/v1/models/{InferencesClient.Model}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(list.GetProperty("data")[0].GetRawText(), await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Should_show_another_tenant_the_same_models()
    {
        using var dev = app.CreateDevClient();
        using var other = app.CreateClient();
        other.DefaultRequestHeaders.Authorization = new("Bearer", await app.Services.AddTenantAsync("models-tenant"));

        var devs = await dev.GetStringAsync("/v1/models");
        var others = await other.GetStringAsync("/v1/models");

        Assert.Equal(devs, others);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("Authorization", "Bearer not-the-key")]
    [InlineData("X-Api-Key", "not-the-key")]
    public async Task Should_answer_401_invalid_api_key_in_openais_shape(string? header, string? value)
    {
        using var client = app.CreateClient();
        if (header is not null)
            client.DefaultRequestHeaders.TryAddWithoutValidation(header, value);

        using var list = await client.GetAsync("/v1/models");
        using var read = await client.GetAsync($"/v1/models/{InferencesClient.Model}");

        foreach (var response in new[] { list, read })
        {
            var error = await response.AssertOpenAiErrorAsync(HttpStatusCode.Unauthorized, "invalid_api_key", "invalid_request_error");
            Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
            Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        }
    }

    [Theory]
    [InlineData("gpt-4o")]
    [InlineData("ALL-MINILM-L6-V2")] // ids are case-sensitive
    [InlineData("all-minilm-l6-v2%01")] // echoed escaped, as \u0001
    public async Task Should_answer_404_model_not_found_in_openais_shape_to_an_unknown_id(string id)
    {
        using var client = app.CreateDevClient();

        using var response = await client.GetAsync($"/v1/models/{id}");

        var error = await response.AssertOpenAiErrorAsync(HttpStatusCode.NotFound, "model_not_found", "invalid_request_error");
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.DoesNotContain('\u0001', error.GetProperty("message").GetString()!);
    }

    [Fact]
    public async Task Should_answer_the_frameworks_404_and_405_in_openais_shape()
    {
        using var client = app.CreateDevClient();

        using var noSuchRoute = await client.GetAsync($"/v1/models/{InferencesClient.Model}/versions");
        using var wrongMethod = await client.PostAsJsonAsync("/v1/models", new { id = "mine" });

        await noSuchRoute.AssertOpenAiErrorAsync(HttpStatusCode.NotFound, "not_found", "invalid_request_error");
        await wrongMethod.AssertOpenAiErrorAsync(HttpStatusCode.MethodNotAllowed, "method_not_allowed", "invalid_request_error");
    }

    [Fact]
    public async Task Should_leave_problem_json_to_the_other_routes()
    {
        using var anonymous = app.CreateClient();
        using var dev = app.CreateDevClient();

        using var unauthorized = await anonymous.GetAsync("/v1/inferences");
        using var noSuchRoute = await dev.GetAsync("/v1/inferences/a/b/c");
        using var lookalike = await dev.GetAsync("/v1/modelsx");

        await unauthorized.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await noSuchRoute.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
        await lookalike.AssertProblemAsync(HttpStatusCode.NotFound, "not_found");
    }
}

/// <summary>The official OpenAI .NET client, pointed at the platform, works unchanged.</summary>
public sealed class When_the_openai_client_reads_the_models(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    [Fact]
    public async Task Should_list_the_models_and_get_one()
    {
        using var http = app.CreateClient();
        var models = ModelClient(http, InferenceAppFactory.ApiKey);

        var list = (await models.GetModelsAsync()).Value;
        var model = (await models.GetModelAsync(InferencesClient.Model)).Value;

        var listed = Assert.Single(list);
        Assert.Equal((InferencesClient.Model, "sentence-transformers"), (listed.Id, listed.OwnedBy));
        Assert.Equal(new DateTimeOffset(2024, 9, 22, 0, 0, 0, TimeSpan.Zero), listed.CreatedAt);
        Assert.Equal((listed.Id, listed.OwnedBy, listed.CreatedAt), (model.Id, model.OwnedBy, model.CreatedAt));
    }

    [Fact]
    public async Task Should_fail_with_401_for_a_wrong_key()
    {
        using var http = app.CreateClient();
        var models = ModelClient(http, "not-the-key");

        var exception = await Assert.ThrowsAsync<ClientResultException>(() => models.GetModelsAsync());

        Assert.Equal(401, exception.Status);
        Assert.Contains("invalid_api_key", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_fail_with_404_for_an_unknown_model()
    {
        using var http = app.CreateClient();
        var models = ModelClient(http, InferenceAppFactory.ApiKey);

        var exception = await Assert.ThrowsAsync<ClientResultException>(() => models.GetModelAsync("gpt-4o"));

        Assert.Equal(404, exception.Status);
        Assert.Contains("model_not_found", exception.Message, StringComparison.Ordinal);
    }

    /// <summary>The client as an integrator builds it, with the test server's handler in place of the network.</summary>
    private static OpenAIModelClient ModelClient(HttpClient http, string apiKey) =>
        new OpenAIClient(new ApiKeyCredential(apiKey), new OpenAIClientOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(http),
        }).GetOpenAIModelClient();
}
