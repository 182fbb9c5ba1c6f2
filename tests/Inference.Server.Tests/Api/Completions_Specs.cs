using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Inference.Orchestration;
using Inference.Server.Tests.Infrastructure;
using OpenAI;

namespace Inference.Server.Tests.Api;

/// <summary>
/// <c>POST /v1/completions</c> as OpenAI's .NET client calls it, streamed and not: OpenAI's completion object and chunks,
/// the text exactly as generated, the usage charged, OpenAI's error bodies.
/// </summary>
public sealed class When_a_client_asks_for_completions(GenerationApp app) : IClassFixture<GenerationApp>
{
    private readonly HttpClient _http = app.CreateDevClient();

    [Fact]
    public async Task Should_answer_openais_completion_object_with_the_text_and_usage_through_the_official_client()
    {
        var client = LegacyCompletions.Create(_http, InferenceAppFactory.ApiKey);

        var result = await client.CreateAsync(new
        {
            model = ScriptedGenerator.Id, prompt = new[] { "one two" }, max_tokens = 11, n = 1, user = "someone", frequency_penalty = 0,
        });

        var body = JsonDocument.Parse(result.GetRawResponse().Content.ToString()).RootElement;
        Assert.Equal(["id", "object", "created", "model", "choices", "usage"], body.EnumerateObject().Select(member => member.Name));
        Assert.StartsWith("cmpl-", body.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal(("text_completion", ScriptedGenerator.Id), (body.GetProperty("object").GetString(), body.GetProperty("model").GetString()));
        Assert.InRange(body.GetProperty("created").GetInt64(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.Equal(["text", "index", "logprobs", "finish_reason"], choice.EnumerateObject().Select(member => member.Name));
        Assert.Equal((ScriptedGenerator.Expected(11).Text, 0, JsonValueKind.Null, "length"), (choice.GetProperty("text").GetString(),
            choice.GetProperty("index").GetInt32(), choice.GetProperty("logprobs").ValueKind, choice.GetProperty("finish_reason").GetString()));
        var usage = body.GetProperty("usage");
        Assert.Equal((2, 11, 13), (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32(),
            usage.GetProperty("total_tokens").GetInt32()));

        // The same request, as the platform's own route shows it.
        var inference = await _http.GetFromJsonAsync<JsonElement>($"/v1/inferences/{body.GetProperty("id").GetString()!["cmpl-".Length..]}");
        Assert.Equal(("completed", ScriptedGenerator.Expected(11).Text), (inference.GetProperty("status").GetString(),
            inference.GetProperty("output").GetProperty("text").GetString()));
    }

    [Fact]
    public async Task Should_generate_openais_default_of_16_tokens_and_end_at_a_stop_string()
    {
        var client = LegacyCompletions.Create(_http, InferenceAppFactory.ApiKey);

        var plain = await client.CreateAsync(new { model = ScriptedGenerator.Id, prompt = "default length" });
        var stopped = await client.CreateAsync(new { model = ScriptedGenerator.Id, prompt = "stopped", stop = "world", seed = 7, temperature = 0 });

        var usage = JsonDocument.Parse(plain.GetRawResponse().Content.ToString()).RootElement.GetProperty("usage");
        Assert.Equal(CompletionsDefault, usage.GetProperty("completion_tokens").GetInt32());
        var choice = JsonDocument.Parse(stopped.GetRawResponse().Content.ToString()).RootElement.GetProperty("choices")[0];
        Assert.Equal(("Hello, ", "stop"), (choice.GetProperty("text").GetString(), choice.GetProperty("finish_reason").GetString()));
    }

    [Fact]
    public async Task Should_stream_openais_chunks_through_the_official_client_ending_with_the_usage_and_done()
    {
        var client = LegacyCompletions.Create(_http, InferenceAppFactory.ApiKey);

        var result = await client.CreateAsync(new
        {
            model = ScriptedGenerator.Id, prompt = "stream it", max_tokens = 13, stream = true, stream_options = new { include_usage = true },
        }, stream: true);

        Assert.Equal("text/event-stream", result.GetRawResponse().Headers.TryGetValue("Content-Type", out var type) ? type : null);
        var events = await ServerSentData.ReadAsync(result.GetRawResponse().ContentStream!);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(data => JsonDocument.Parse(data).RootElement).ToList();
        Assert.All(chunks, chunk => Assert.Equal("text_completion", chunk.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(chunk => chunk.GetProperty("id").GetString()).Distinct());

        var usageChunk = chunks[^1];
        Assert.Empty(usageChunk.GetProperty("choices").EnumerateArray());
        Assert.Equal((2, 13), (usageChunk.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(),
            usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32()));

        var choices = chunks[..^1].Select(chunk => Assert.Single(chunk.GetProperty("choices").EnumerateArray())).ToList();
        Assert.Equal("length", choices[^1].GetProperty("finish_reason").GetString());
        Assert.All(choices[..^1], choice => Assert.Equal(JsonValueKind.Null, choice.GetProperty("finish_reason").ValueKind));
        Assert.Equal(ScriptedGenerator.Expected(13).Text, string.Concat(choices.Select(choice => choice.GetProperty("text").GetString())));
        // The pieces came as the worker published them, not as one block at the end.
        Assert.True(choices.Count(choice => choice.GetProperty("text").GetString()!.Length > 0) > 1, string.Join('\n', events));
    }

    [Fact]
    public async Task Should_send_the_rest_from_the_final_text_once_a_piece_is_lost()
    {
        var client = LegacyCompletions.Create(_http, InferenceAppFactory.ApiKey);

        var result = await client.CreateAsync(new { model = ScriptedGenerator.Id, prompt = $"{ScriptedGenerator.LoseWord} one", max_tokens = 6, stream = true },
            stream: true);

        var events = await ServerSentData.ReadAsync(result.GetRawResponse().ContentStream!);
        var texts = events[..^1].Select(data => JsonDocument.Parse(data).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()).ToList();
        var expected = ScriptedGenerator.Expected(6).Text;
        // The first piece, then (the second lost) the rest of the final text at once, then the finish chunk.
        Assert.Equal([ScriptedGenerator.Pieces[0], expected[ScriptedGenerator.Pieces[0].Length..], ""], texts);
        Assert.Equal("[DONE]", events[^1]);
    }

    [Fact]
    public async Task Should_end_a_stream_with_an_error_event_when_the_request_is_canceled_after_it_started()
    {
        var prompt = $"{ScriptedGenerator.HoldWord} then cancel {Guid.NewGuid():N}";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = JsonContent.Create(new { model = ScriptedGenerator.Id, prompt, stream = true }),
        };
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Its own request, found by its prompt: another spec's request may be running too.
        var id = await Poll.UntilAsync(
            () => Task.FromResult(app.Generator.RequestsByPrompt.TryGetValue(prompt, out var running) ? running : Guid.Empty),
            running => running != Guid.Empty,
            "the streamed request to run");
        await Poll.UntilAsync(
            () => _http.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}"),
            inference => inference.GetProperty("status").GetString() == "inferring",
            "the streamed request to be inferring");
        using var canceled = await _http.PostAsync($"/v1/inferences/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, canceled.StatusCode);
        app.Generator.Release(prompt);

        var events = await ServerSentData.ReadAsync(await response.Content.ReadAsStreamAsync());
        var error = JsonDocument.Parse(Assert.Single(events)).RootElement.GetProperty("error");
        Assert.Equal(ErrorCodes.Canceled, error.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("""{"model": "all-minilm-l6-v2", "prompt": "x"}""", HttpStatusCode.BadRequest, ErrorCodes.ModelNotSupported, "model")]
    [InlineData("""{"model": "no-such-model", "prompt": "x"}""", HttpStatusCode.NotFound, ErrorCodes.ModelNotFound, "model")]
    [InlineData("""{"prompt": "x"}""", HttpStatusCode.BadRequest, "model_required", "model")]
    [InlineData("""{"model": "scripted-generator"}""", HttpStatusCode.BadRequest, "input_required", "prompt")]
    [InlineData("""{"model": "scripted-generator", "prompt": ["a", "b"]}""", HttpStatusCode.BadRequest, ErrorCodes.TooManyInputs, "prompt")]
    [InlineData("""{"model": "scripted-generator", "prompt": [1, 2]}""", HttpStatusCode.BadRequest, "input_invalid", "prompt")]
    [InlineData("""{"model": "scripted-generator", "prompt": ""}""", HttpStatusCode.BadRequest, ErrorCodes.InputEmpty, "prompt")]
    [InlineData("""{"model": "scripted-generator", "prompt": "a\u0000"}""", HttpStatusCode.BadRequest, "input_invalid_character", "prompt")]
    [InlineData("""{"model": "scripted-generator", "prompt": "x", "n": 2}""", HttpStatusCode.BadRequest, ErrorCodes.UnsupportedValue, "n")]
    [InlineData("""{"model": "scripted-generator", "prompt": "x", "echo": true}""", HttpStatusCode.BadRequest, ErrorCodes.UnsupportedValue, "echo")]
    [InlineData("""{"model": "scripted-generator", "prompt": "x", "best_of": 3}""", HttpStatusCode.BadRequest, ErrorCodes.UnsupportedValue, "best_of")]
    [InlineData("""{"model": "scripted-generator", "prompt": "x", "max_tokens": 41}""", HttpStatusCode.BadRequest, ErrorCodes.ParametersInvalid, "max_tokens")]
    [InlineData("""{"model": "scripted-generator", "prompt": "x", "temperature": 3}""", HttpStatusCode.BadRequest, ErrorCodes.ParametersInvalid, "temperature")]
    [InlineData("""{"model": "scripted-generator", "prompt": "x", "top_p": 0}""", HttpStatusCode.BadRequest, ErrorCodes.ParametersInvalid, "top_p")]
    [InlineData("""{"model": "scripted-generator", "prompt": "x", "seed": "s"}""", HttpStatusCode.BadRequest, ErrorCodes.ParametersInvalid, "seed")]
    [InlineData("""{"model": "scripted-generator", "prompt": "x", "stop": ["1","2","3","4","5"]}""", HttpStatusCode.BadRequest, ErrorCodes.ParametersInvalid, "stop")]
    [InlineData("""{"model": "scripted-generator", "prompt": "x", "stream": "yes"}""", HttpStatusCode.BadRequest, ErrorCodes.ParametersInvalid, "stream")]
    public async Task Should_answer_openais_error_body_with_the_code_and_param(string body, HttpStatusCode status, string code, string param)
    {
        using var response = await _http.PostAsync("/v1/completions", new StringContent(body, Encoding.UTF8, "application/json"));

        var error = await response.AssertOpenAiErrorAsync(status, code, status == HttpStatusCode.NotFound || status == HttpStatusCode.BadRequest
            ? "invalid_request_error" : "server_error");
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Should_answer_401_invalid_api_key_in_openais_shape_through_the_official_client()
    {
        var client = LegacyCompletions.Create(app.CreateClient(), "not-a-key");

        var exception = await Assert.ThrowsAsync<ClientResultException>(() => client.CreateAsync(new { model = ScriptedGenerator.Id, prompt = "x" }));

        Assert.Equal(401, exception.Status);
        var error = JsonDocument.Parse(exception.GetRawResponse()!.Content.ToString()).RootElement.GetProperty("error");
        Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
    }

    private const int CompletionsDefault = 16;
}

/// <summary>A plan of 30 tokens a minute: a stream refused for quota is refused before it starts, with OpenAI's 429.</summary>
public sealed class When_a_streamed_completion_is_over_quota(ThirtyTokensGenerationApp app) : IClassFixture<ThirtyTokensGenerationApp>
{
    [Fact]
    public async Task Should_answer_429_in_openais_shape_before_the_stream_starts()
    {
        using var http = app.CreateDevClient();
        var prompt = $"{ScriptedGenerator.HoldWord} the window";
        var holding = await http.SubmitAcceptedAsync(ScriptedGenerator.Id, prompt, new { max_tokens = 27 });

        using var response = await http.PostAsJsonAsync("/v1/completions", new { model = ScriptedGenerator.Id, prompt = "x", stream = true });

        var error = await response.AssertOpenAiErrorAsync(HttpStatusCode.TooManyRequests, ErrorCodes.RateLimitTokens, "rate_limit_exceeded");
        Assert.NotNull(error.GetProperty("message").GetString());
        Assert.NotNull(response.Headers.RetryAfter);
        app.Generator.Release(prompt);
        await http.WaitUntilFinishedAsync(holding.GetProperty("id").GetString()!);
    }
}

/// <summary>
/// OpenAI's <c>LegacyCompletionClient</c>, unchanged. OpenAI 2.15.0 ships it as an internal type with public protocol
/// methods (BinaryContent in, ClientResult out), so it is built and called through reflection; everything it does on the
/// wire (the path, the key, the error handling) is its own.
/// </summary>
internal sealed class LegacyCompletions
{
    private static readonly Type ClientType = typeof(OpenAIClient).Assembly.GetType("OpenAI.LegacyCompletions.LegacyCompletionClient", throwOnError: true)!;

    private static readonly MethodInfo CreateCompletionAsync = ClientType.GetMethod("CreateCompletionAsync", [typeof(BinaryContent), typeof(RequestOptions)])!;

    private readonly object _client;

    private LegacyCompletions(object client) => _client = client;

    /// <summary>The client as an integrator builds it (no retries), with the test server's handler.</summary>
    public static LegacyCompletions Create(HttpClient http, string apiKey) => new(Activator.CreateInstance(ClientType,
        ScriptedGenerator.Id, new ApiKeyCredential(apiKey), new OpenAIClientOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        })!);

    /// <summary>Posts <paramref name="body"/>; with <paramref name="stream"/> the response is not buffered, as for server-sent events.</summary>
    public Task<ClientResult> CreateAsync(object body, bool stream = false) =>
        (Task<ClientResult>)CreateCompletionAsync.Invoke(_client,
            [BinaryContent.Create(BinaryData.FromObjectAsJson(body)), new RequestOptions { BufferResponse = !stream }])!;
}

/// <summary>The <c>data</c> of each server-sent event of a stream, read to its end; comment lines are skipped.</summary>
internal static class ServerSentData
{
    public static async Task<string[]> ReadAsync(Stream stream)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await ReadAsync(reader);
    }

    /// <summary>The events from where <paramref name="reader"/> stands (at the start of a line) to the end.</summary>
    public static async Task<string[]> ReadAsync(StreamReader reader)
    {
        var events = new List<string>();
        var data = new StringBuilder();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Length > 0)
                    events.Add(data.ToString());
                data.Clear();
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Append(line["data: ".Length..]);
            }
        }

        return [.. events];
    }
}

/// <summary>Heartbeats every 50 ms, so that a held generation's stream sends several while it waits.</summary>
public sealed class QuickHeartbeatGenerationApp() : GenerationApp(new Dictionary<string, string?> { ["Api:EventHeartbeatInterval"] = "00:00:00.050" });

/// <summary>A streamed completion that waits long for its text keeps the connection alive and loses nothing.</summary>
public sealed class When_a_streamed_completion_waits(QuickHeartbeatGenerationApp app) : IClassFixture<QuickHeartbeatGenerationApp>
{
    [Fact]
    public async Task Should_send_keep_alive_comments_and_then_every_piece()
    {
        using var http = app.CreateDevClient();
        var prompt = $"{ScriptedGenerator.HoldWord} a while";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = JsonContent.Create(new { model = ScriptedGenerator.Id, prompt, max_tokens = 8, stream = true }),
        };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);

        var comments = 0;
        using (var deadline = new CancellationTokenSource(Poll.Deadline))
        {
            while (comments < 3 && await reader.ReadLineAsync(deadline.Token) is { } line)
                comments += line == ": keep-alive" ? 1 : 0;
        }

        app.Generator.Release(prompt);
        var events = await ServerSentData.ReadAsync(reader);

        Assert.Equal(3, comments);
        Assert.Equal("[DONE]", events[^1]);
        Assert.Equal(ScriptedGenerator.Expected(8).Text, string.Concat(events[..^1]
            .Select(data => JsonDocument.Parse(data).RootElement.GetProperty("choices")[0].GetProperty("text").GetString())));
    }
}
