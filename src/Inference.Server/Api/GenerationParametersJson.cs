using System.Text.Json;
using Inference.Contracts;
using Inference.Orchestration;

namespace Inference.Server.Api;

/// <summary>
/// Reads generation parameters from a request body, kept raw so that a value of the wrong type gets an error that names
/// its field (<c>parameters_invalid</c>) rather than a JSON error. Only the types are checked here; the ranges, which
/// depend on the model, are <see cref="GenerationRules"/>'. A JSON <c>null</c> is an absent parameter, as OpenAI takes it.
/// </summary>
internal static class GenerationParametersJson
{
    public const string MaxTokens = "max_tokens";
    public const string Temperature = "temperature";
    public const string TopP = "top_p";
    public const string Seed = "seed";
    public const string Stop = "stop";

    private static readonly string[] Names = [MaxTokens, Temperature, TopP, Seed, Stop];

    /// <summary>
    /// The <c>parameters</c> object of <c>POST /v1/inferences</c>: null when absent or <c>null</c>; every member must be
    /// one of <see cref="Names"/> (a misspelt <c>max_token</c> would silently reserve the model's maximum).
    /// </summary>
    public static (GenerationParameters? Parameters, FieldError? Error) ReadObject(JsonElement? parameters, string field)
    {
        if (parameters is not { } value || value.ValueKind == JsonValueKind.Null)
            return (null, null);
        if (value.ValueKind != JsonValueKind.Object)
            return (null, Invalid(field, $"'{field}' must be an object: {{\"max_tokens\", \"temperature\", \"top_p\", \"seed\", \"stop\"}}."));

        var members = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var member in value.EnumerateObject())
        {
            var name = FaithfulJsonString.ReadName(member);
            if (!Names.Contains(name, StringComparer.Ordinal))
            {
                return (null, Invalid($"{field}.{InputText.Printable(name, 40)}",
                    $"'{InputText.Printable(name, 40)}' is not a generation parameter; they are {string.Join(", ", Names)}."));
            }

            if (!members.TryAdd(name, member.Value))
                return (null, Invalid($"{field}.{name}", $"'{name}' is given twice."));
        }

        return Read(members.GetValueOrDefault(MaxTokens), members.GetValueOrDefault(Temperature), members.GetValueOrDefault(TopP),
            members.GetValueOrDefault(Seed), members.GetValueOrDefault(Stop), field + ".");
    }

    /// <summary>
    /// The parameters from their raw values (<see cref="JsonValueKind.Undefined"/> or <c>null</c>: absent), or the first of
    /// the wrong type; <paramref name="prefix"/> goes before a field's name in the error (<c>parameters.</c>, or empty).
    /// </summary>
    public static (GenerationParameters? Parameters, FieldError? Error) Read(JsonElement maxTokens, JsonElement temperature,
        JsonElement topP, JsonElement seed, JsonElement stop, string prefix)
    {
        int? maxTokensValue = null;
        if (IsGiven(maxTokens))
        {
            if (maxTokens.ValueKind != JsonValueKind.Number || !maxTokens.TryGetInt32(out var tokens))
                return (null, Invalid(prefix + MaxTokens, $"'{MaxTokens}' must be a whole number."));
            maxTokensValue = tokens;
        }

        var (temperatureValue, temperatureError) = Number(temperature, prefix + Temperature, Temperature);
        if (temperatureError is not null)
            return (null, temperatureError);
        var (topPValue, topPError) = Number(topP, prefix + TopP, TopP);
        if (topPError is not null)
            return (null, topPError);

        long? seedValue = null;
        if (IsGiven(seed))
        {
            if (seed.ValueKind != JsonValueKind.Number || !seed.TryGetInt64(out var whole))
                return (null, Invalid(prefix + Seed, $"'{Seed}' must be a whole number that fits 64 bits."));
            seedValue = whole;
        }

        List<string>? stopValue = null;
        if (IsGiven(stop))
        {
            if (stop.ValueKind == JsonValueKind.String)
                stopValue = [FaithfulJsonString.Read(stop)];
            else if (stop.ValueKind == JsonValueKind.Array && stop.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
                stopValue = [.. stop.EnumerateArray().Select(FaithfulJsonString.Read)];
            else
                return (null, Invalid(prefix + Stop, $"'{Stop}' must be a string or an array of up to {GenerationRules.MaxStopStrings} strings."));
        }

        return (new GenerationParameters
        {
            MaxTokens = maxTokensValue,
            Temperature = temperatureValue,
            TopP = topPValue,
            Seed = seedValue,
            Stop = stopValue,
        }, null);
    }

    /// <summary>A parameter given and not <c>null</c>.</summary>
    public static bool IsGiven(JsonElement value) => value.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null);

    private static (double? Value, FieldError? Error) Number(JsonElement value, string field, string name)
    {
        if (!IsGiven(value))
            return (null, null);
        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && double.IsFinite(number)
            ? (number, null)
            : (null, Invalid(field, $"'{name}' must be a number."));
    }

    private static FieldError Invalid(string field, string message) => new(field, ErrorCodes.ParametersInvalid, message);
}
