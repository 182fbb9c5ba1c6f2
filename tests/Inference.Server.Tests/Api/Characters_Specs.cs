using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;

namespace Inference.Server.Tests.Api;

public sealed class When_a_submission_holds_text_no_store_can_keep_on_SQLite(EmbeddedApp app)
    : When_a_submission_holds_text_no_store_can_keep<EmbeddedApp>(app);

public sealed class When_a_submission_holds_text_no_store_can_keep_on_PostgreSQL(PostgresApp app)
    : When_a_submission_holds_text_no_store_can_keep<PostgresApp>(app);

/// <summary>
/// Text that PostgreSQL cannot hold, that the tokenizer would silently drop, or that is not Unicode at all, on each
/// database. Every request here is refused, so the app never holds a saga and the dev tenant's quota stays untouched:
/// each spec checks both.
/// </summary>
public abstract class When_a_submission_holds_text_no_store_can_keep<TApp>(TApp app) : IClassFixture<TApp>
    where TApp : EmbeddedApp
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Theory]
    [InlineData(@"\u0000", "input_invalid_character", "U+0000")] // NUL: PostgreSQL's text and jsonb cannot hold it
    [InlineData(@"\u0007", "input_invalid_character", "U+0007")] // BEL: the tokenizer drops it, so this was input_empty
    [InlineData(@"\u001b", "input_invalid_character", "U+001B")]
    [InlineData(@"\u000b", "input_invalid_character", "U+000B")] // white space to .NET, still a control character
    [InlineData(@"\u007f", "input_invalid_character", "U+007F")] // DEL
    [InlineData(@"\u0085", "input_invalid_character", "U+0085")] // C1, white space to .NET
    [InlineData(@"\u009f", "input_invalid_character", "U+009F")] // C1
    [InlineData(@"\ud800", "input_invalid_unicode", "U+D800")] // a high surrogate with no low one
    [InlineData(@"\udfff", "input_invalid_unicode", "U+DFFF")] // a low surrogate with no high one
    [InlineData(@"\ude00\ud83d", "input_invalid_unicode", "U+DE00")] // a pair the wrong way round
    public async Task Should_refuse_the_input_and_name_the_character_and_its_index(string escape, string code, string codePoint)
    {
        using var response = await _client.SubmitJsonAsync(
            $$"""{"model":"{{InferencesClient.Model}}","input":["hello","ab{{escape}}c","world"]}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, code);
        var error = Assert.Single(problem.GetProperty("errors").EnumerateArray());
        Assert.Equal(("input[1]", code), (error.GetProperty("field").GetString(), error.GetProperty("code").GetString()));
        var message = error.GetProperty("message").GetString();
        Assert.Contains(codePoint, message, StringComparison.Ordinal);
        Assert.Contains("index 2", message, StringComparison.Ordinal);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Theory]
    [InlineData('\u007f')]
    [InlineData('\u0085')]
    public async Task Should_refuse_a_control_character_that_json_lets_through_unescaped(char control)
    {
        // JSON requires an escape only below U+0020, so DEL and the C1 controls may arrive as they are.
        using var response = await _client.SubmitJsonAsync($$"""{"model":"{{InferencesClient.Model}}","input":"a{{control}}b"}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "input_invalid_character");
        Assert.Equal("input[0]", problem.GetProperty("errors")[0].GetProperty("field").GetString());
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Theory]
    [InlineData(@"gpt\u0000", @"gpt\u0000")]
    [InlineData(@"gpt\ud800", @"gpt\uD800")]
    [InlineData(@"\udc00gpt\u0000", @"\uDC00gpt\u0000")]
    public async Task Should_answer_an_unknown_model_and_echo_its_name_escaped(string escapedModel, string echoed)
    {
        using var response = await _client.SubmitJsonAsync($$"""{"model":"{{escapedModel}}","input":"hello"}""");

        // AssertProblemAsync parses the body: an echo the JSON writer could not write would fail here as a 500.
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "model_not_found");
        Assert.Equal("model", problem.GetProperty("errors")[0].GetProperty("field").GetString());
        Assert.Contains($"'{echoed}'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_name_every_input_that_breaks_the_rule()
    {
        using var response = await _client.SubmitJsonAsync(
            $$"""{"model":"{{InferencesClient.Model}}","input":["\u0000","fine","\ud800","",""]}""");

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "input_invalid_character");
        Assert.Equal(
            [("input[0]", "input_invalid_character"), ("input[2]", "input_invalid_unicode"), ("input[3]", "input_empty"), ("input[4]", "input_empty")],
            problem.GetProperty("errors").EnumerateArray().Select(e => (e.GetProperty("field").GetString(), e.GetProperty("code").GetString())));
        await app.Services.AssertNothingReservedOrStoredAsync();
    }
}

public sealed class When_an_id_that_is_read_holds_control_characters(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    [Fact]
    public async Task Should_answer_404_and_echo_the_id_escaped()
    {
        using var client = app.CreateDevClient();

        using var response = await client.GetAsync("/v1/inferences/not%01an%7Fid");

        var problem = await response.AssertProblemAsync(HttpStatusCode.NotFound, "inference_not_found");
        Assert.Contains(@"'not\u0001an\u007Fid'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}

/// <summary>Bodies whose bytes are not UTF-8 text. All are refused before anything is parsed, stored or reserved.</summary>
public sealed class When_a_body_is_not_utf8(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Theory]
    [InlineData(new byte[] { 0xFF }, "a byte that never occurs in UTF-8")]
    [InlineData(new byte[] { 0xC3 }, "the first byte of two, then an ASCII letter")]
    [InlineData(new byte[] { 0xC0, 0x80 }, "an overlong NUL")]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, "a surrogate encoded as if it were a character")]
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 }, "a code point past U+10FFFF")]
    public async Task Should_answer_400_invalid_utf8_and_say_where(byte[] invalid, string what)
    {
        var head = Encoding.UTF8.GetBytes($$"""{"model":"{{InferencesClient.Model}}","input":["hello","a""");
        using var content = new ByteArrayContent([.. head, .. invalid, .. "b\"]}"u8]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await _client.PostAsync("/v1/inferences", content);

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_utf8");
        Assert.True(problem.GetProperty("detail").GetString()!.Contains($"offset {head.Length}", StringComparison.Ordinal), what);
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Theory]
    [InlineData("application/json; charset=latin-99")]
    [InlineData("application/json; charset=utf-16")]
    [InlineData("application/json; charset=iso-8859-1")]
    [InlineData("application/json; charset=\"\"")]
    public async Task Should_answer_415_unsupported_charset_to_a_charset_other_than_utf8(string contentType)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes($$"""{"model":"{{InferencesClient.Model}}","input":"hello"}"""));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        using var response = await _client.PostAsync("/v1/inferences", content);

        await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported_charset");
        await app.Services.AssertNothingReservedOrStoredAsync();
    }
}

public sealed class When_a_submission_holds_text_every_store_can_keep_on_SQLite(EmbeddedApp app)
    : When_a_submission_holds_text_every_store_can_keep<EmbeddedApp>(app);

public sealed class When_a_submission_holds_text_every_store_can_keep_on_PostgreSQL(PostgresApp app)
    : When_a_submission_holds_text_every_store_can_keep<PostgresApp>(app);

/// <summary>Text at the edges of the rule that every store keeps as it was sent, run through to the end on each database.</summary>
public abstract class When_a_submission_holds_text_every_store_can_keep<TApp>(TApp app) : IClassFixture<TApp>
    where TApp : EmbeddedApp
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_accept_surrogate_pairs_tabs_and_line_breaks_and_run_them()
    {
        // The emoji arrives once as raw UTF-8 and once as a pair of escapes.
        const string body = """
            {"model":"all-minilm-l6-v2","input":["smile 😀 please","smile \ud83d\ude00 please","tab\there","lines\r\nand\nmore"]}
            """;

        using var response = await _client.SubmitJsonAsync(body);

        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var inference = await _client.WaitUntilFinishedAsync(id);
        Assert.Equal("completed", inference.GetProperty("status").GetString());
        var embeddings = inference.Embeddings();
        Assert.Equal(4, embeddings.Length);
        Assert.Equal(embeddings[0], embeddings[1], (left, right) => Math.Abs(left - right) < 1e-5f);
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("application/json; charset=UTF-8")]
    [InlineData("application/json; charset=\"utf-8\"")]
    public async Task Should_accept_a_body_that_names_utf8_as_its_charset_and_starts_with_a_byte_order_mark(string contentType)
    {
        using var content = new ByteArrayContent([.. Encoding.UTF8.Preamble, .. Encoding.UTF8.GetBytes($$"""{"model":"{{InferencesClient.Model}}","input":"hello"}""")]);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        using var response = await _client.PostAsync("/v1/inferences", content);

        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
    }
}
