using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;

namespace Inference.Server.Tests.Api;

/// <summary>
/// Every request here is refused, so the app never holds a saga and the dev tenant's quota stays untouched: each
/// spec checks both after its answer.
/// </summary>
public sealed class When_a_submission_is_invalid(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Theory]
    [InlineData("""{"model":"gpt-17","input":"hello"}""", "model_not_found", "model")]
    [InlineData("""{"input":"hello"}""", "model_required", "model")]
    [InlineData("""{"model":"","input":"hello"}""", "model_required", "model")]
    [InlineData("""{"model":"all-minilm-l6-v2"}""", "input_required", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":null}""", "input_required", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":42}""", "input_invalid", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":{"text":"hello"}}""", "input_invalid", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":["hello",7]}""", "input_invalid", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":[]}""", "input_empty", "input")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":""}""", "input_empty", "input[0]")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":["hello",""]}""", "input_empty", "input[1]")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":"   "}""", "input_empty", "input[0]")]
    [InlineData("""{"model":"all-minilm-l6-v2","input":["hello"," \t\n "]}""", "input_empty", "input[1]")]
    public async Task Should_answer_400_with_the_code_and_field_of_the_first_error(string body, string code, string field)
    {
        using var response = await _client.SubmitJsonAsync(body);

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, code);
        Assert.Equal(field, problem.GetProperty("errors")[0].GetProperty("field").GetString());
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Theory]
    [InlineData("\u200b")] // zero-width space: not white space to .NET, yet no token
    [InlineData("\u0301\u0301")] // lone combining accents, which the uncased tokenizer strips
    public async Task Should_refuse_an_input_that_leaves_the_model_no_token_as_empty(string input)
    {
        using var response = await _client.SubmitAsync(new[] { "hello", input });

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "input_empty");
        var error = Assert.Single(problem.GetProperty("errors").EnumerateArray());
        Assert.Equal(("input[1]", "input_empty"), (error.GetProperty("field").GetString(), error.GetProperty("code").GetString()));
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_refuse_an_input_of_257_tokens_and_name_it()
    {
        // 255 words, each one token, plus [CLS] and [SEP]: one over the model's 256.
        var tooLong = string.Join(' ', Enumerable.Repeat("word", 255));

        using var response = await _client.SubmitAsync(new[] { "hello", tooLong, "world" });

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "input_too_long");
        var error = Assert.Single(problem.GetProperty("errors").EnumerateArray());
        Assert.Equal(("input[1]", "input_too_long"), (error.GetProperty("field").GetString(), error.GetProperty("code").GetString()));
        Assert.Contains("257", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_refuse_more_than_128_inputs()
    {
        using var response = await _client.SubmitAsync(Enumerable.Repeat("hello", 129).ToArray());

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "too_many_inputs");
        Assert.Equal("input", problem.GetProperty("errors")[0].GetProperty("field").GetString());
        Assert.Contains("at most 128", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Theory]
    [InlineData("""{"model":"all-minilm-l6-v2","input":""")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("""["hello"]""")]
    [InlineData("""{"model":7,"input":"hello"}""")]
    public async Task Should_answer_400_invalid_json_to_a_body_that_is_not_a_request_object(string body)
    {
        using var response = await _client.SubmitJsonAsync(body);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_json");
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData(null)]
    public async Task Should_answer_415_to_a_body_that_is_not_sent_as_json(string? contentType)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(
            JsonSerializer.Serialize(new { model = InferencesClient.Model, input = "hello" })));
        if (contentType is not null)
            content.Headers.ContentType = new MediaTypeHeaderValue(contentType);

        using var response = await _client.PostAsync("/v1/inferences", content);

        await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await app.Services.AssertNothingReservedOrStoredAsync();
    }
}

public sealed class When_a_route_or_method_is_not_part_of_the_api(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Theory]
    [InlineData("GET", "/v1/nothing-here", HttpStatusCode.NotFound, "not_found")]
    [InlineData("DELETE", "/v1/inferences/00000000-0000-0000-0000-000000000001", HttpStatusCode.MethodNotAllowed, "method_not_allowed")]
    public async Task Should_still_answer_a_problem_with_a_code(string method, string path, HttpStatusCode status, string code)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);

        // The framework writes these itself; clients still get the same problem shape and a code to switch on.
        using var response = await _client.SendAsync(request);

        await response.AssertProblemAsync(status, code);
    }
}
