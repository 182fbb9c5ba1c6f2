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
}
