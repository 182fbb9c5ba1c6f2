using System.Text.Json;
using System.Text.Json.Serialization;
using FluentValidation;
using Inference.Engine;
using Inference.Orchestration;
using Inference.Server.Orchestration;

namespace Inference.Server.Api;

/// <summary>
/// The body of <c>POST /v1/embeddings</c>, as OpenAI defines it:
/// <c>{"model", "input": string | string[] | int[] | int[][], "encoding_format"?: "float" | "base64", "dimensions"?, "user"?}</c>.
/// </summary>
public sealed record CreateEmbeddingRequest
{
    public const string FloatFormat = "float";
    public const string Base64Format = "base64";

    /// <summary>Longest <see cref="User"/> accepted, in characters.</summary>
    public const int MaxUserLength = 256;

    [JsonConverter(typeof(FaithfulJsonString.Converter))]
    public string? Model { get; init; }

    /// <summary>Text, texts, one input as token ids of the model's own vocabulary, or several; kept raw for precise errors.</summary>
    public JsonElement? Input { get; init; }

    /// <summary><c>float</c> (the default) or <c>base64</c> (little-endian float32 bytes).</summary>
    public string? EncodingFormat { get; init; }

    /// <summary>Accepted only as the model's own length: these models cannot shorten their vectors.</summary>
    public int? Dimensions { get; init; }

    /// <summary>The end user, as OpenAI's clients send it; checked for length and characters, otherwise unused.</summary>
    public string? User { get; init; }
}

/// <summary>
/// The inputs of an embeddings request as texts, with the token-id forms decoded by the model's tokenizer, or the first
/// thing wrong with them (a <see cref="FieldError"/> naming <c>input</c> or <c>input[i]</c>).
/// </summary>
internal static class EmbeddingInputs
{
    public static (IReadOnlyList<string>? Texts, FieldError? Error) Read(JsonElement input, IInferenceModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (input.ValueKind == JsonValueKind.String)
            return ([FaithfulJsonString.Read(input)], null);
        if (input.ValueKind != JsonValueKind.Array)
            return (null, Shape());
        if (input.GetArrayLength() == 0)
            return (null, new FieldError("input", ErrorCodes.InputEmpty, "'input' must hold at least one input."));

        var first = input[0].ValueKind;
        if (first == JsonValueKind.Number)
        {
            if (TooLong(input, "input", model) is { } tooLong)
                return (null, tooLong);
            return Tokens(input, model) is { } text ? ([text], null) : (null, OutOfVocabulary("input", model));
        }

        var texts = new List<string>(input.GetArrayLength());
        var index = 0;
        foreach (var item in input.EnumerateArray())
        {
            if (item.ValueKind != first)
                return (null, Shape());
            switch (item.ValueKind)
            {
                case JsonValueKind.String:
                    texts.Add(FaithfulJsonString.Read(item));
                    break;
                case JsonValueKind.Array when item.GetArrayLength() == 0:
                    return (null, new FieldError($"input[{index}]", ErrorCodes.InputEmpty, $"Input {index} holds no tokens."));
                case JsonValueKind.Array:
                    if (TooLong(item, $"input[{index}]", model) is { } tooLong)
                        return (null, tooLong);
                    if (Tokens(item, model) is not { } text)
                        return (null, item.EnumerateArray().All(id => id.ValueKind == JsonValueKind.Number) ? OutOfVocabulary($"input[{index}]", model) : Shape());
                    texts.Add(text);
                    break;
                default:
                    return (null, Shape());
            }

            index++;
        }

        return (texts, null);
    }

    private static string? Tokens(JsonElement ids, IInferenceModel model)
    {
        var tokens = new List<int>(ids.GetArrayLength());
        foreach (var id in ids.EnumerateArray())
        {
            if (!IsId(id))
                return null;
            tokens.Add(id.GetInt32());
        }

        return model.DecodeTokens(tokens);
    }

    /// <summary>
    /// More ids than the model reads is too long whatever they decode to; refused before they are decoded, so that a body
    /// of a million ids costs nothing.
    /// </summary>
    private static FieldError? TooLong(JsonElement ids, string field, IInferenceModel model) =>
        ids.GetArrayLength() > model.Descriptor.MaxInputTokens
            ? new FieldError(field, ErrorCodes.InputTooLong,
                $"{field} has {ids.GetArrayLength()} token ids; {model.Descriptor.Id} accepts at most {model.Descriptor.MaxInputTokens}.")
            : null;

    private static bool IsId(JsonElement value) => value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var id) && id >= 0;

    private static FieldError Shape() => new("input", "input_invalid",
        "'input' must be a string, an array of strings, an array of token ids, or an array of arrays of token ids.");

    private static FieldError OutOfVocabulary(string field, IInferenceModel model) => new(field, "input_invalid",
        $"Token ids are whole numbers from 0 of {model.Descriptor.Id}'s own vocabulary; one is not.");
}

public sealed class CreateEmbeddingRequestValidator : AbstractValidator<CreateEmbeddingRequest>
{
    public CreateEmbeddingRequestValidator(IServedModels models)
    {
        RuleFor(x => x.Model)
            .Cascade(CascadeMode.Stop)
            .NotEmpty().WithErrorCode("model_required").WithMessage("'model' is required.")
            .Must(model => models.TryGet(model!, out _)).WithErrorCode(ErrorCodes.ModelNotFound)
            .WithMessage(x => $"The model '{InputText.Printable(x.Model)}' does not exist.");
        RuleFor(x => x.Input)
            .NotNull().WithErrorCode("input_required").WithMessage("'input' is required.");
        RuleFor(x => x.EncodingFormat)
            .Must(format => format is null or CreateEmbeddingRequest.FloatFormat or CreateEmbeddingRequest.Base64Format)
            .WithErrorCode("encoding_format_invalid").WithMessage("'encoding_format' is 'float' or 'base64'.");
        RuleFor(x => x.Dimensions)
            .Must((request, dimensions) => dimensions is null || !models.TryGet(request.Model ?? "", out var model)
                || dimensions == model.Descriptor.Dimensions)
            .WithErrorCode("dimensions_invalid")
            .WithMessage(x => models.TryGet(x.Model ?? "", out var model)
                ? $"{model.Descriptor.Id} produces {model.Descriptor.Dimensions} dimensions and cannot shorten them; send {model.Descriptor.Dimensions} or leave 'dimensions' out."
                : "'dimensions' is not supported by this model.");
        RuleFor(x => x.User)
            .Must(user => user is null || (user.Length <= CreateEmbeddingRequest.MaxUserLength && InputText.FindViolation(user, "'user'") is null))
            .WithErrorCode("user_invalid")
            .WithMessage($"'user' is at most {CreateEmbeddingRequest.MaxUserLength} characters of text.");
    }
}
