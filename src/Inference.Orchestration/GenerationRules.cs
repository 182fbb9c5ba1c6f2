using System.Globalization;
using Inference.Contracts;

namespace Inference.Orchestration;

/// <summary>
/// The ranges of <see cref="GenerationParameters"/>, the same on every way in (<c>POST /v1/inferences</c>,
/// <c>POST /v1/completions</c>, <see cref="SubmitInference"/> over the bus), and the parameters a request runs with once
/// the model's defaults are filled in. The reservation counts <see cref="GenerationParameters.MaxTokens"/> as resolved
/// here, so the worker must generate with exactly these.
/// </summary>
public static class GenerationRules
{
    /// <summary>The most stop strings one request may give, as OpenAI allows.</summary>
    public const int MaxStopStrings = 4;

    /// <summary>The highest sampling temperature, as OpenAI allows.</summary>
    public const double MaxTemperature = 2;

    /// <summary>The longest stop string, in characters: the worker holds back this much text while it generates.</summary>
    public const int MaxStopLength = 256;

    /// <summary>
    /// The parameters with <see cref="GenerationParameters.MaxTokens"/> filled in (<paramref name="defaultMaxTokens"/> when
    /// absent), or the first one out of range: its field (<c>max_tokens</c>, <c>stop[1]</c>, ...) and why.
    /// </summary>
    /// <param name="parameters">As given; null for none.</param>
    /// <param name="maxOutputTokens">The model's <c>max_output_tokens</c>: the highest <c>max_tokens</c>.</param>
    /// <param name="defaultMaxTokens">What <c>max_tokens</c> is when absent: the model's maximum, or OpenAI's 16 on its route.</param>
    public static (GenerationParameters? Resolved, ParameterError? Error) Resolve(GenerationParameters? parameters, int maxOutputTokens,
        int defaultMaxTokens)
    {
        var given = parameters ?? new GenerationParameters();
        var maxTokens = given.MaxTokens ?? Math.Min(defaultMaxTokens, maxOutputTokens);
        if (maxTokens < 1 || maxTokens > maxOutputTokens)
        {
            return (null, new("max_tokens", string.Create(CultureInfo.InvariantCulture,
                $"'max_tokens' is {maxTokens}; it must be from 1 to the model's max_output_tokens, {maxOutputTokens}.")));
        }

        if (given.Temperature is { } temperature && !(temperature >= 0 && temperature <= MaxTemperature))
        {
            return (null, new("temperature", string.Create(CultureInfo.InvariantCulture,
                $"'temperature' is {temperature}; it must be from 0 to {MaxTemperature} (0 is greedy decoding).")));
        }

        if (given.TopP is { } topP && !(topP > 0 && topP <= 1))
        {
            return (null, new("top_p", string.Create(CultureInfo.InvariantCulture,
                $"'top_p' is {topP}; it must be greater than 0 and at most 1.")));
        }

        if (given.Stop is { } stop && StopError(stop) is { } stopError)
            return (null, stopError);

        return (given with { MaxTokens = maxTokens, Stop = given.Stop is { Count: > 0 } ? [.. given.Stop] : null }, null);
    }

    /// <summary>The first thing wrong with the stop strings: too many, an empty one, one too long, or one with text no store can
    /// hold (the rule of the inputs, <see cref="InputText"/>).</summary>
    private static ParameterError? StopError(IReadOnlyList<string> stop)
    {
        if (stop.Count > MaxStopStrings)
            return new("stop", $"'stop' holds {stop.Count} strings; at most {MaxStopStrings} are accepted.");
        for (var i = 0; i < stop.Count; i++)
        {
            var field = string.Create(CultureInfo.InvariantCulture, $"stop[{i}]");
            if (string.IsNullOrEmpty(stop[i]))
                return new(field, $"'{field}' is empty; a stop string holds at least one character.");
            if (stop[i].Length > MaxStopLength)
                return new(field, $"'{field}' has {stop[i].Length} characters; at most {MaxStopLength} are accepted.");
            if (InputText.FindViolation(stop[i], $"'{field}'") is { } violation)
                return new(field, violation.Message);
        }

        return null;
    }
}

/// <summary>A generation parameter out of range: its field, relative to the parameters (<c>max_tokens</c>, <c>stop[0]</c>), and
/// a sentence. Its code is <see cref="ErrorCodes.ParametersInvalid"/>.</summary>
public sealed record ParameterError(string Field, string Message);
