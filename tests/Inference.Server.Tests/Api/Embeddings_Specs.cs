using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;
using OpenAI;
using OpenAI.Embeddings;

namespace Inference.Server.Tests.Api;

/// <summary>
/// <c>POST /v1/embeddings</c> as OpenAI's clients call it: answered on the same call, over the same saga, quota and model
/// as every request, so the vectors equal what <c>POST /v1/inferences</c> computes for the same text.
/// </summary>
public sealed class When_a_client_asks_for_embeddings(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    private const string Text = "A man is playing a guitar.";

    [Fact]
    public async Task Should_answer_openais_list_with_float_vectors_and_usage_equal_to_the_inference_route()
    {
        using var client = app.CreateDevClient();

        using var response = await client.PostAsJsonAsync("/v1/embeddings", new { model = InferencesClient.Model, input = new[] { Text, "Another one." } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["object", "data", "model", "usage"], body.EnumerateObject().Select(member => member.Name));
        Assert.Equal(("list", InferencesClient.Model), (body.GetProperty("object").GetString(), body.GetProperty("model").GetString()));
        var data = body.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal([0, 1], data.Select(item => item.GetProperty("index").GetInt32()));
        Assert.All(data, item => Assert.Equal("embedding", item.GetProperty("object").GetString()));
        var vector = data[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

        var inference = await client.CompleteAsync(new[] { Text, "Another one." });
        Assert.Equal(inference.Embeddings()[0], vector);
        var tokens = inference.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.Equal((tokens, tokens), (body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(),
            body.GetProperty("usage").GetProperty("total_tokens").GetInt32()));
    }

    [Fact]
    public async Task Should_encode_base64_as_little_endian_float32()
    {
        using var client = app.CreateDevClient();

        var floats = await EmbedAsync(client, new { model = InferencesClient.Model, input = Text });
        var base64 = await EmbedAsync(client, new { model = InferencesClient.Model, input = Text, encoding_format = "base64" });

        var bytes = Convert.FromBase64String(base64.GetString()!);
        Assert.Equal(floats.EnumerateArray().Select(x => x.GetSingle()), MemoryMarshal.Cast<byte, float>(bytes).ToArray());
    }

    [Fact]
    public async Task Should_read_token_ids_of_the_models_vocabulary_as_the_text_they_stand_for()
    {
        using var client = app.CreateDevClient();

        // "hello world" in the model's vocabulary (bert-base-uncased): [CLS] hello world [SEP].
        var fromTokens = await EmbedAsync(client, new { model = InferencesClient.Model, input = new[] { new[] { 101, 7592, 2088, 102 } } });
        var fromText = await EmbedAsync(client, new { model = InferencesClient.Model, input = "hello world" });
        var single = await EmbedAsync(client, new { model = InferencesClient.Model, input = new[] { 7592, 2088 } });

        Assert.Equal(fromText.GetRawText(), fromTokens.GetRawText());
        Assert.Equal(fromText.GetRawText(), single.GetRawText());
    }

    [Theory]
    [InlineData("""{"model":"all-minilm-l6-v2"}""", 400, "input_required", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":[]}""", 400, "input_empty", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":[[]]}""", 400, "input_empty", "input[0]")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":["a",1]}""", 400, "input_invalid", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":[999999]}""", 400, "input_invalid", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":[[1],[-1]]}""", 400, "input_invalid", "input[1]")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":["ok","nul\u0000"]}""", 400, "input_invalid_character", "input[1]")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":["x","y","hello \ud800"]}""", 400, "input_invalid_unicode", "input[2]")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":"x","encoding_format":"int8"}""", 400, "encoding_format_invalid", "encoding_format")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":"x","dimensions":256}""", 400, "dimensions_invalid", "dimensions")]
    [InlineData("""{"model":"text-embedding-3-small","input":"x"}""", 404, "model_not_found", "model")]
    public async Task Should_refuse_a_bad_request_with_openais_error_and_store_nothing(string json, int status, string code, string param)
    {
        using var client = app.CreateDevClient();
        var before = await app.CountInferencesAsync();

        using var response = await client.PostAsync("/v1/embeddings", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        var error = await response.AssertOpenAiErrorAsync((HttpStatusCode)status, code, "invalid_request_error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(before, await app.CountInferencesAsync());
    }

    [Fact]
    public async Task Should_refuse_more_token_ids_than_the_model_reads_before_decoding_them()
    {
        using var client = app.CreateDevClient();

        using var response = await client.PostAsJsonAsync("/v1/embeddings",
            new { model = InferencesClient.Model, input = new[] { new[] { 7592 }, Enumerable.Repeat(7592, 257).ToArray() } });

        var error = await response.AssertOpenAiErrorAsync(HttpStatusCode.BadRequest, "input_too_long", "invalid_request_error");
        Assert.Equal("input[1]", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Should_accept_the_models_own_dimensions_and_a_user()
    {
        using var client = app.CreateDevClient();

        var vector = await EmbedAsync(client, new { model = InferencesClient.Model, input = Text, dimensions = 384, user = "user-1234" });

        Assert.Equal(384, vector.GetArrayLength());
    }

    private static async Task<JsonElement> EmbedAsync(HttpClient client, object body)
    {
        using var response = await client.PostAsJsonAsync("/v1/embeddings", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return Assert.Single(JsonDocument.Parse(text).RootElement.GetProperty("data").EnumerateArray()).GetProperty("embedding").Clone();
    }
}

/// <summary>The official OpenAI .NET client, pointed at the platform, embeds unchanged.</summary>
public sealed class When_the_openai_client_asks_for_embeddings(TwentyTokensPerMinuteApp app) : IClassFixture<TwentyTokensPerMinuteApp>
{
    [Fact]
    public async Task Should_embed_texts_and_token_ids_with_the_same_vectors_as_the_raw_route()
    {
        var sent = new BodyRecorder(app.App.Server.CreateHandler());
        using var http = new HttpClient(sent) { BaseAddress = app.App.Server.BaseAddress };
        var embeddings = EmbeddingClient(http, InferenceAppFactory.ApiKey);

        var result = (await embeddings.GenerateEmbeddingsAsync(["hello world"])).Value;
        var fromTokens = (await embeddings.GenerateEmbeddingsAsync([new ReadOnlyMemory<int>([7592, 2088])])).Value;

        using var dev = app.CreateDevClient();
        using var raw = await dev.PostAsJsonAsync("/v1/embeddings", new { model = InferencesClient.Model, input = "hello world" });
        var floats = (await raw.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data")[0].GetProperty("embedding")
            .EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.Equal(floats, Assert.Single(result).ToFloats().ToArray());
        Assert.Equal(floats, Assert.Single(fromTokens).ToFloats().ToArray());
        Assert.Equal(4, result.Usage.InputTokenCount);
        Assert.Equal(4, result.Usage.TotalTokenCount);
        // The client asks for base64 and decodes it itself; the float form is the raw route's above.
        Assert.All(sent.Bodies, body => Assert.Equal("base64", JsonDocument.Parse(body).RootElement.GetProperty("encoding_format").GetString()));
    }

    [Fact]
    public async Task Should_fail_with_401_for_a_wrong_key()
    {
        using var http = app.CreateClient();

        var exception = await Assert.ThrowsAsync<ClientResultException>(() => EmbeddingClient(http, "not-the-key").GenerateEmbeddingAsync("hi"));

        Assert.Equal(401, exception.Status);
        Assert.Contains("invalid_api_key", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_fail_with_400_when_no_window_of_the_plan_could_ever_take_the_request()
    {
        using var http = app.CreateClient();
        // More than the tenant's 20 tokens a minute in one request.
        var text = string.Join(' ', Enumerable.Repeat("word", 40));

        var exception = await Assert.ThrowsAsync<ClientResultException>(() => EmbeddingClient(http, InferenceAppFactory.ApiKey).GenerateEmbeddingAsync(text));

        Assert.Equal(400, exception.Status);
        Assert.Contains("request_exceeds_plan", exception.Message, StringComparison.Ordinal);
    }

    /// <summary>Keeps the body of every request it passes on.</summary>
    private sealed class BodyRecorder(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        public List<string> Bodies { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is not null)
                Bodies.Add(await request.Content.ReadAsStringAsync(cancellationToken));
            return await base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>The client as an integrator builds it (no retries, so a 429 is seen at once), with the test server's handler.</summary>
    private static EmbeddingClient EmbeddingClient(HttpClient http, string apiKey) =>
        new OpenAIClient(new ApiKeyCredential(apiKey), new OpenAIClientOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        }).GetEmbeddingClient(InferencesClient.Model);
}

/// <summary>Synchronous embeddings may run 2 s; the deadline sweep looks often.</summary>
public sealed class ShortEmbeddingsApp() : EmbeddedApp(new Dictionary<string, string?>(SlowRequest.Limits)
{
    ["Api:EmbeddingsTimeout"] = "00:00:02",
    ["Orchestration:DeadlineSweepInterval"] = "00:00:00.200",
});

public sealed class When_embeddings_take_longer_than_the_call_may_wait(ShortEmbeddingsApp app) : IClassFixture<ShortEmbeddingsApp>
{
    [Fact]
    public async Task Should_cancel_the_request_uncharged_and_answer_503_with_its_code()
    {
        using var client = app.CreateDevClient();

        using var response = await client.PostAsJsonAsync("/v1/embeddings", new { model = InferencesClient.Model, input = SlowRequest.Body() });

        var error = await response.AssertOpenAiErrorAsync(HttpStatusCode.ServiceUnavailable, "cancel_after_elapsed", "server_error");
        Assert.Contains("cancel", error.GetProperty("message").GetString(), StringComparison.OrdinalIgnoreCase);
        using var list = await client.GetAsync("/v1/inferences?limit=1");
        var latest = (await list.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data")[0];
        Assert.Equal("canceled", latest.GetProperty("status").GetString());
        Assert.Equal(0, latest.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }
}
