using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Inference.Contracts;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Inference.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

/// <summary>
/// <c>POST /v1/inferences</c> for a text-generation model: the parameters reach the worker as given (the model's
/// maximum for an absent <c>max_tokens</c>), the request is reserved for its prompt and all of its <c>max_tokens</c> and
/// settled with what it generated, and the output is the text, exactly, with its finish reason.
/// </summary>
public sealed class When_a_text_generation_model_is_asked(GenerationApp app) : IClassFixture<GenerationApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_answer_the_generated_text_exactly_with_its_finish_reason_and_the_real_usage()
    {
        var inference = await CompleteAsync(new { model = ScriptedGenerator.Id, input = "one two three", parameters = new { max_tokens = 11 } });

        var expected = ScriptedGenerator.Expected(11);
        var output = inference.GetProperty("output");
        Assert.Equal(["text", "finish_reason"], output.EnumerateObject().Select(member => member.Name));
        Assert.Equal((expected.Text, "length"), (output.GetProperty("text").GetString(), output.GetProperty("finish_reason").GetString()));
        Assert.Contains('\0', expected.Text);
        var usage = inference.GetProperty("usage");
        Assert.Equal((3, 11, 14), (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32(),
            usage.GetProperty("total_tokens").GetInt32()));
    }

    [Fact]
    public async Task Should_pass_the_parameters_to_the_worker_and_end_at_a_stop_string()
    {
        var prompt = $"stop at world {Guid.NewGuid():N}";
        var inference = await CompleteAsync(new
        {
            model = ScriptedGenerator.Id,
            input = new[] { prompt },
            parameters = new { max_tokens = 20, temperature = 0.7, top_p = 0.9, seed = long.MaxValue, stop = new[] { "world", "never" } },
        });

        Assert.Equal(("Hello, ", "stop"), (inference.GetProperty("output").GetProperty("text").GetString(),
            inference.GetProperty("output").GetProperty("finish_reason").GetString()));
        Assert.Equal(3, inference.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var run = Assert.Single(app.Generator.Runs, x => x.Prompt == prompt).Parameters;
        Assert.Equal(new GenerationParameters { MaxTokens = 20, Temperature = 0.7, TopP = 0.9, Seed = long.MaxValue }, run! with { Stop = null });
        Assert.Equal(["world", "never"], run.Stop);
    }

    [Fact]
    public async Task Should_reserve_the_prompt_and_all_of_max_tokens_and_settle_with_the_tokens_generated()
    {
        var prompt = $"{ScriptedGenerator.HoldWord} this {Guid.NewGuid():N}";
        var before = await app.Services.DevUsageAsync();

        var accepted = await _client.SubmitAcceptedAsync(ScriptedGenerator.Id, prompt, new { max_tokens = 30, stop = "world" });

        // Three words of prompt and 30 tokens it may generate.
        Assert.Equal(33, accepted.GetProperty("usage").GetProperty("reserved_tokens").GetInt64());
        var id = accepted.GetProperty("id").GetString()!;
        var held = await Poll.UntilAsync(() => app.Services.DevUsageAsync(), usage => usage.DayTokens.Reserved - before.DayTokens.Reserved == 33,
            "the reservation of prompt and max_tokens");
        app.Generator.Release(prompt);
        var inference = await _client.WaitUntilFinishedAsync(id);

        Assert.Equal("completed", inference.GetProperty("status").GetString());
        Assert.Equal((3, 3), (inference.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(),
            inference.GetProperty("usage").GetProperty("completion_tokens").GetInt32()));
        // Settled with prompt and completion tokens, 6, not the 33 reserved.
        var settled = await Poll.UntilAsync(() => app.Services.DevUsageAsync(),
            usage => usage.DayTokens.Used - before.DayTokens.Used >= 6 && usage.DayTokens.Reserved == held.DayTokens.Reserved - 33,
            "the settlement");
        Assert.Equal(6, settled.DayTokens.Used - before.DayTokens.Used);
    }

    [Fact]
    public async Task Should_generate_up_to_the_models_max_output_tokens_when_max_tokens_is_absent()
    {
        var prompt = $"no limit given {Guid.NewGuid():N}";
        var accepted = await _client.SubmitAcceptedAsync(ScriptedGenerator.Id, prompt, null);

        Assert.Equal(4 + ScriptedGenerator.MaxOutputTokens, accepted.GetProperty("usage").GetProperty("reserved_tokens").GetInt64());
        var inference = await _client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);
        Assert.Equal(ScriptedGenerator.Expected(ScriptedGenerator.MaxOutputTokens).Text, inference.GetProperty("output").GetProperty("text").GetString());
        Assert.Equal(ScriptedGenerator.MaxOutputTokens, Assert.Single(app.Generator.Runs, x => x.Prompt == prompt).Parameters!.MaxTokens);
    }

    [Fact]
    public async Task Should_show_the_output_in_the_final_event_of_the_stream()
    {
        var accepted = await _client.SubmitAcceptedAsync(ScriptedGenerator.Id, $"events please {Guid.NewGuid():N}", new { max_tokens = 5 });
        var id = accepted.GetProperty("id").GetString()!;
        await _client.WaitUntilFinishedAsync(id);

        using var response = await _client.GetAsync($"/v1/inferences/{id}/events", HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStringAsync();
        var data = body.Split('\n').Last(line => line.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..];
        var output = JsonDocument.Parse(data).RootElement.GetProperty("output");
        Assert.Equal(ScriptedGenerator.Expected(5).Text, output.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Should_send_the_pieces_of_a_streamed_generation_as_output_events_before_its_final_status()
    {
        var prompt = $"{ScriptedGenerator.HoldWord} and stream {Guid.NewGuid():N}";
        using var response = await _client.PostAsync("/v1/inferences", new StringContent(JsonSerializer.Serialize(
            new { model = ScriptedGenerator.Id, input = prompt, stream = true, parameters = new { max_tokens = 7 } }), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await using var stream = await EventStream.OpenOkAsync(_client, id);
        var first = await stream.ReadEventAsync();
        Assert.Equal("status", first!.Name);

        app.Generator.Release(prompt);
        var events = await stream.ReadEventsToEndAsync();

        var outputs = events.TakeWhile(e => e.Name == "output").ToList();
        Assert.Equal(7, outputs.Count);
        Assert.All(outputs, e => Assert.Null(e.Id));
        var expected = ScriptedGenerator.Expected(7).Text;
        Assert.Equal(expected, string.Concat(outputs.Select(e => e.Data!.Value.GetProperty("text").GetString())));
        var last = events[^1];
        Assert.Equal(("status", "completed"), (last.Name, last.Status));
        Assert.Equal(expected, last.Data!.Value.GetProperty("output").GetProperty("text").GetString());
    }

    [Fact]
    public async Task Should_admit_a_bus_submission_with_parameters_and_reserve_its_max_tokens()
    {
        var id = Guid.NewGuid();
        var bus = app.Services.GetRequiredService<MassTransit.IBus>();
        var endpoint = await bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress);

        await endpoint.Send(new SubmitInference
        {
            InferenceId = id,
            TenantId = DevTenantSeeder.TenantId,
            Model = ScriptedGenerator.Id,
            Inputs = ["from the bus"],
            Parameters = new GenerationParameters { MaxTokens = 4 },
        });

        var inference = await _client.WaitUntilFinishedAsync(id.ToString(), notStoredYet: true);
        Assert.Equal(ScriptedGenerator.Expected(4).Text, inference.GetProperty("output").GetProperty("text").GetString());
        await using var scope = app.Services.CreateAsyncScope();
        var saga = await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences.AsNoTracking().SingleAsync(x => x.CorrelationId == id);
        Assert.Equal((3 + 4L, 4), (saga.ReservedTokens, saga.Parameters!.MaxTokens));
    }

    [Theory]
    [InlineData("""{"MaxTokens": 0}""", ErrorCodes.ParametersInvalid)]
    [InlineData("""{"MaxTokens": 41}""", ErrorCodes.ParametersInvalid)]
    [InlineData("""{"Temperature": 2.5}""", ErrorCodes.ParametersInvalid)]
    [InlineData("""{"TopP": 0}""", ErrorCodes.ParametersInvalid)]
    [InlineData("""{"Stop": ["a", "b", "c", "d", "e"]}""", ErrorCodes.ParametersInvalid)]
    [InlineData("""{"Stop": ["ok", "a\u0000b"]}""", ErrorCodes.ParametersInvalid)]
    public async Task Should_refuse_a_bus_submission_whose_parameters_are_out_of_range(string parameters, string code)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var gate = scope.ServiceProvider.GetRequiredService<ISubmissionGate>();

        var decision = await gate.CheckAsync(new SubmitInference
        {
            InferenceId = Guid.NewGuid(),
            TenantId = DevTenantSeeder.TenantId,
            Model = ScriptedGenerator.Id,
            Inputs = ["a prompt"],
            Parameters = JsonSerializer.Deserialize<GenerationParameters>(parameters),
        }, CancellationToken.None);

        Assert.Equal(code, decision.Refusal?.Code);
    }

    [Fact]
    public async Task Should_refuse_a_bus_submission_of_two_inputs_to_a_generation_model_or_parameters_to_an_embedding_model()
    {
        await using var scope = app.Services.CreateAsyncScope();
        var gate = scope.ServiceProvider.GetRequiredService<ISubmissionGate>();
        SubmitInference Submission(string model, string[] inputs, GenerationParameters? parameters) => new()
        {
            InferenceId = Guid.NewGuid(), TenantId = DevTenantSeeder.TenantId, Model = model, Inputs = inputs, Parameters = parameters,
        };

        var two = await gate.CheckAsync(Submission(ScriptedGenerator.Id, ["one", "two"], null), CancellationToken.None);
        var embedding = await gate.CheckAsync(Submission(InferencesClient.Model, ["one"], new GenerationParameters()), CancellationToken.None);
        var admitted = await gate.CheckAsync(Submission(ScriptedGenerator.Id, ["one two"], null), CancellationToken.None);

        Assert.Equal((ErrorCodes.TooManyInputs, ErrorCodes.ParametersNotSupported), (two.Refusal?.Code, embedding.Refusal?.Code));
        Assert.Equal((2, ScriptedGenerator.MaxOutputTokens), (admitted.PromptTokens, admitted.Parameters?.MaxTokens));
    }

    private async Task<JsonElement> CompleteAsync(object body)
    {
        using var response = await _client.PostAsJsonAsync("/v1/inferences", body);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        var accepted = await response.Content.ReadFromJsonAsync<JsonElement>();
        var inference = await _client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);
        Assert.True(inference.GetProperty("status").GetString() == "completed", inference.ToString());
        return inference;
    }
}

/// <summary>
/// Every generation parameter out of range, of the wrong type, or given where it means nothing: <c>400</c> with a code
/// and the field at fault, and nothing stored or reserved.
/// </summary>
public sealed class When_generation_parameters_are_refused(GenerationApp app) : IClassFixture<GenerationApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Theory]
    [InlineData("""{"max_tokens": 0}""", "parameters.max_tokens")]
    [InlineData("""{"max_tokens": 41}""", "parameters.max_tokens")]
    [InlineData("""{"max_tokens": 1.5}""", "parameters.max_tokens")]
    [InlineData("""{"max_tokens": "10"}""", "parameters.max_tokens")]
    [InlineData("""{"temperature": -0.1}""", "parameters.temperature")]
    [InlineData("""{"temperature": 2.01}""", "parameters.temperature")]
    [InlineData("""{"temperature": "hot"}""", "parameters.temperature")]
    [InlineData("""{"top_p": 0}""", "parameters.top_p")]
    [InlineData("""{"top_p": 1.01}""", "parameters.top_p")]
    [InlineData("""{"seed": 1.5}""", "parameters.seed")]
    [InlineData("""{"seed": 9223372036854775808}""", "parameters.seed")]
    [InlineData("""{"stop": ["a", "b", "c", "d", "e"]}""", "parameters.stop")]
    [InlineData("""{"stop": 5}""", "parameters.stop")]
    [InlineData("""{"stop": [""]}""", "parameters.stop[0]")]
    [InlineData("""{"stop": ""}""", "parameters.stop[0]")]
    [InlineData("""{"stop": ["ok", "a\u0000b"]}""", "parameters.stop[1]")]
    [InlineData("""{"stop": ["\ud800"]}""", "parameters.stop[0]")]
    [InlineData("""{"max_token": 5}""", "parameters.max_token")]
    [InlineData("""5""", "parameters")]
    public async Task Should_answer_400_parameters_invalid_naming_the_field(string parameters, string field)
    {
        using var response = await _client.SubmitJsonAsync($$"""{"model": "{{ScriptedGenerator.Id}}", "input": "a prompt", "parameters": {{parameters}}}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, ErrorCodes.ParametersInvalid);
        var error = Assert.Single(problem.GetProperty("errors").EnumerateArray());
        Assert.Equal((field, ErrorCodes.ParametersInvalid), (error.GetProperty("field").GetString(), error.GetProperty("code").GetString()));
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_answer_400_parameters_not_supported_for_an_embedding_model()
    {
        using var response = await _client.PostAsJsonAsync("/v1/inferences",
            new { model = InferencesClient.Model, input = "text", parameters = new { max_tokens = 5 } });

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, ErrorCodes.ParametersNotSupported);
        Assert.Equal("parameters", problem.GetProperty("errors")[0].GetProperty("field").GetString());
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Theory]
    [InlineData("all-minilm-l6-v2", "true", ErrorCodes.ParametersNotSupported)]
    [InlineData("scripted-generator", "\"yes\"", ErrorCodes.ParametersInvalid)]
    public async Task Should_answer_400_for_a_stream_the_model_cannot_have(string model, string stream, string code)
    {
        using var response = await _client.SubmitJsonAsync($$"""{"model": "{{model}}", "input": "a prompt", "stream": {{stream}}}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, code);
        Assert.Equal("stream", problem.GetProperty("errors")[0].GetProperty("field").GetString());
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_answer_400_too_many_inputs_for_two_prompts()
    {
        using var response = await _client.PostAsJsonAsync("/v1/inferences", new { model = ScriptedGenerator.Id, input = new[] { "one", "two" } });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, ErrorCodes.TooManyInputs);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_answer_400_input_too_long_for_a_prompt_over_the_models_limit()
    {
        var prompt = string.Join(' ', Enumerable.Repeat("word", ScriptedGenerator.MaxInputTokens + 1));
        using var response = await _client.PostAsJsonAsync("/v1/inferences", new { model = ScriptedGenerator.Id, input = prompt });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, ErrorCodes.InputTooLong);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }
}

/// <summary>The dev tenant on a plan of 30 tokens per minute.</summary>
public sealed class ThirtyTokensGenerationApp() : GenerationApp(new Dictionary<string, string?> { ["Dev:TokensPerMinute"] = "30" });

/// <summary>A generation whose prompt and <c>max_tokens</c> no window of the plan could hold is refused at once.</summary>
public sealed class When_max_tokens_exceeds_the_plan(ThirtyTokensGenerationApp app) : IClassFixture<ThirtyTokensGenerationApp>
{
    [Fact]
    public async Task Should_answer_400_request_exceeds_plan_counting_max_tokens_and_admit_a_smaller_one()
    {
        using var client = app.CreateDevClient();

        using var refused = await client.PostAsJsonAsync("/v1/inferences",
            new { model = ScriptedGenerator.Id, input = "three word prompt", parameters = new { max_tokens = 28 } });

        var problem = await refused.AssertProblemAsync(HttpStatusCode.BadRequest, ErrorCodes.RequestExceedsPlan);
        Assert.Equal(("tokens_per_minute", 30, 31), (problem.GetProperty("limit_name").GetString(), problem.GetProperty("limit").GetInt64(),
            problem.GetProperty("requested").GetInt64()));
        await app.Services.AssertNothingReservedOrStoredAsync();

        var accepted = await client.SubmitAcceptedAsync(ScriptedGenerator.Id, "three word prompt", new { max_tokens = 27 });
        Assert.Equal(30, accepted.GetProperty("usage").GetProperty("reserved_tokens").GetInt64());
        await client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);
    }
}

internal static class GenerationClient
{
    /// <summary>Submits a prompt to <paramref name="model"/> with <paramref name="parameters"/> and expects a 202.</summary>
    public static async Task<JsonElement> SubmitAcceptedAsync(this HttpClient client, string model, string prompt, object? parameters)
    {
        using var response = await client.PostAsync("/v1/inferences", new StringContent(
            JsonSerializer.Serialize(new { model, input = prompt, parameters }), Encoding.UTF8, "application/json"));
        Assert.True(response.StatusCode == HttpStatusCode.Accepted,
            $"Expected 202, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}

/// <summary><see cref="GenerationApp"/> on the real services: PostgreSQL, RabbitMQ and Redis, in a slice of its own.</summary>
public sealed class PostgresGenerationApp : GenerationApp
{
    private readonly Integration.IsolatedServices _services;

    public PostgresGenerationApp()
        : this(new Integration.IsolatedServices())
    {
    }

    private PostgresGenerationApp(Integration.IsolatedServices services)
        : base(services.Settings()) => _services = services;

    public override async Task InitializeAsync()
    {
        await _services.InitializeAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _services.DisposeAsync();
    }
}

/// <summary>
/// A generation on PostgreSQL, whose jsonb holds the parameters and whose bytea holds the text: the text and the
/// parameters come back exactly, through RabbitMQ, on the non-streamed and the streamed route.
/// </summary>
public sealed class When_a_text_generation_model_is_asked_on_PostgreSQL(PostgresGenerationApp app) : IClassFixture<PostgresGenerationApp>
{
    [Fact]
    public async Task Should_keep_the_parameters_and_answer_the_text_exactly()
    {
        using var client = app.CreateDevClient();
        var accepted = await client.SubmitAcceptedAsync(ScriptedGenerator.Id, "on the real services",
            new { max_tokens = 25, seed = -3, stop = new[] { "never \u00e9\U0001F600", "\u2028\r\n\"\\\uFFFE" } });
        var inference = await client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);

        var expected = ScriptedGenerator.Expected(25, ["never \u00e9\U0001F600", "\u2028\r\n\"\\\uFFFE"]);
        Assert.Equal((expected.Text, expected.FinishReason), (inference.GetProperty("output").GetProperty("text").GetString(),
            inference.GetProperty("output").GetProperty("finish_reason").GetString()));
        Assert.Contains('\0', expected.Text);
        await using var scope = app.Services.CreateAsyncScope();
        var saga = await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences.AsNoTracking()
            .SingleAsync(x => x.CorrelationId == Guid.Parse(accepted.GetProperty("id").GetString()!));
        Assert.Equal((25, -3L), (saga.Parameters!.MaxTokens, saga.Parameters.Seed));
        Assert.Equal(["never \u00e9\U0001F600", "\u2028\r\n\"\\\uFFFE"], saga.Parameters.Stop!);
    }

    [Fact]
    public async Task Should_stream_a_completion_through_rabbitmq()
    {
        using var client = app.CreateDevClient();
        using var response = await client.PostAsJsonAsync("/v1/completions", new { model = ScriptedGenerator.Id, prompt = "stream", max_tokens = 9, stream = true });

        var events = await ServerSentData.ReadAsync(await response.Content.ReadAsStreamAsync());
        Assert.Equal("[DONE]", events[^1]);
        Assert.Equal(ScriptedGenerator.Expected(9).Text, string.Concat(events[..^1]
            .Select(data => JsonDocument.Parse(data).RootElement.GetProperty("choices")[0].GetProperty("text").GetString())));
    }
}
