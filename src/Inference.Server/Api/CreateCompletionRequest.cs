using System.Text.Json;
using System.Text.Json.Serialization;

namespace Inference.Server.Api;

/// <summary>
/// The body of <c>POST /v1/completions</c>, as OpenAI defines it: <c>{"model", "prompt", "max_tokens"?, "temperature"?,
/// "top_p"?, "seed"?, "stop"?, "n"?, "stream"?, "stream_options"?, "user"?}</c>. Every value but the model is kept raw, so
/// that a value of the wrong type gets an error that names its field; members OpenAI defines that the platform does
/// not implement are refused unless they hold their default, and any other member is ignored, as OpenAI does.
/// </summary>
public sealed record CreateCompletionRequest
{
    [JsonConverter(typeof(FaithfulJsonString.Converter))]
    public string? Model { get; init; }

    /// <summary>The text to continue: a string, or an array of one string.</summary>
    public JsonElement? Prompt { get; init; }

    /// <summary>OpenAI's default is 16, which this route keeps (capped by the model's <c>max_output_tokens</c>).</summary>
    public JsonElement MaxTokens { get; init; }

    public JsonElement Temperature { get; init; }

    public JsonElement TopP { get; init; }

    public JsonElement Seed { get; init; }

    public JsonElement Stop { get; init; }

    /// <summary>How many completions: only 1.</summary>
    public JsonElement N { get; init; }

    /// <summary>Server-sent events of the text as it is generated.</summary>
    public JsonElement Stream { get; init; }

    /// <summary><c>{"include_usage": true}</c>: a last chunk, before <c>[DONE]</c>, carries the usage.</summary>
    public JsonElement StreamOptions { get; init; }

    /// <summary>Not implemented: only <c>false</c>.</summary>
    public JsonElement Echo { get; init; }

    /// <summary>Not implemented: only 1.</summary>
    public JsonElement BestOf { get; init; }

    /// <summary>Not implemented: only <c>null</c> or 0.</summary>
    public JsonElement Logprobs { get; init; }

    /// <summary>Not implemented: only empty.</summary>
    public JsonElement Suffix { get; init; }
}

/// <summary>OpenAI's completion object, the answer of <c>POST /v1/completions</c>.</summary>
/// <param name="Id"><c>cmpl-</c> and the request's id, as <c>GET /v1/inferences/{id}</c> takes it.</param>
/// <param name="Object">Always <c>text_completion</c>.</param>
/// <param name="Created">When the request was accepted, in Unix seconds.</param>
/// <param name="Model">The model's id.</param>
/// <param name="Choices">One completion.</param>
/// <param name="Usage">The tokens charged; null in a stream's chunks.</param>
public sealed record CompletionResponse(
    string Id,
    string Object,
    long Created,
    string Model,
    IReadOnlyList<CompletionChoiceResponse> Choices,
    CompletionUsageResponse? Usage);

/// <summary>One completion, or a stream's piece of it.</summary>
/// <param name="Text">The generated text, or the piece of it a chunk carries.</param>
/// <param name="Index">Always 0.</param>
/// <param name="Logprobs">Always null.</param>
/// <param name="FinishReason"><c>stop</c> or <c>length</c>; null in a stream's chunks before the last.</param>
public sealed record CompletionChoiceResponse(string Text, int Index, object? Logprobs, string? FinishReason);

public sealed record CompletionUsageResponse(int PromptTokens, int CompletionTokens, int TotalTokens);
