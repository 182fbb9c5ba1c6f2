using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;
using Inference.TestModels;

namespace Inference.Server.Tests.Api;

/// <summary>The app with a text-generation model registered beside the bundled one, as an operator registers it.</summary>
public sealed class GenerationModelApp : EmbeddedApp
{
    public const string ModelId = "tiny-gpt2";

    private readonly TestModelFiles _files;

    public GenerationModelApp()
        : this(new TestModelFiles())
    {
    }

    private GenerationModelApp(TestModelFiles files)
        : base(new Dictionary<string, string?>
        {
            ["Models:0:id"] = InferencesClient.Model,
            ["Models:0:task"] = "embedding",
            ["Models:0:path"] = "bundled:all-minilm-l6-v2",
            ["Models:1:id"] = ModelId,
            ["Models:1:task"] = "text-generation",
            ["Models:1:path"] = files.Write(ModelId, TestModelFiles.Gpt2),
            ["Models:1:tokenizer:kind"] = "gpt2",
            ["Models:1:eos_token"] = "<|endoftext|>",
            ["Models:1:max_input_tokens"] = "64",
            ["Models:1:max_output_tokens"] = "48",
            ["Models:1:max_batch_size"] = "4",
        }) => _files = files;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _files.Dispose();
    }
}

public sealed class When_a_client_reads_a_text_generation_model(GenerationModelApp app) : IClassFixture<GenerationModelApp>
{
    [Fact]
    public async Task Should_list_it_with_its_task_and_max_output_tokens_beside_the_embedding_model()
    {
        using var client = app.CreateDevClient();

        var list = await client.GetFromJsonAsync<JsonElement>("/v1/models");

        var models = list.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal([InferencesClient.Model, GenerationModelApp.ModelId], models.Select(m => m.GetProperty("id").GetString()));
        var model = models[1];
        Assert.Equal(("model", "unknown", "text-generation", "cpu"),
            (model.GetProperty("object").GetString(), model.GetProperty("owned_by").GetString(), model.GetProperty("task").GetString(),
                model.GetProperty("device").GetString()));
        Assert.Equal((64, 48), (model.GetProperty("max_input_tokens").GetInt32(), model.GetProperty("max_output_tokens").GetInt32()));
        Assert.Equal(JsonValueKind.Null, model.GetProperty("dimensions").ValueKind);
        Assert.Equal(0, model.GetProperty("created").GetInt64());
    }

    [Fact]
    public async Task Should_read_it_exactly_as_it_is_listed()
    {
        using var client = app.CreateDevClient();

        var list = await client.GetFromJsonAsync<JsonElement>("/v1/models");
        using var response = await client.GetAsync($"/v1/models/{GenerationModelApp.ModelId}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(list.GetProperty("data")[1].GetRawText(), await response.Content.ReadAsStringAsync());
    }
}
