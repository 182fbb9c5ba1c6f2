namespace Inference.Contracts;

/// <summary>
/// How a text-generation model continues the input; ignored by no model: sending them for an embedding model is an error
/// (<c>parameters_not_supported</c>). Every field is optional.
/// </summary>
public sealed record GenerationParameters
{
    /// <summary>The most tokens to generate, at least 1; the model's <c>max_output_tokens</c> when absent. The quota
    /// reserves prompt tokens plus this, and settles with what was generated.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>0 to 2; 0 is greedy decoding. 1 when absent, as OpenAI.</summary>
    public double? Temperature { get; init; }

    /// <summary>Nucleus sampling, greater than 0 and at most 1; 1 when absent.</summary>
    public double? TopP { get; init; }

    /// <summary>The same seed, input and parameters give the same output.</summary>
    public long? Seed { get; init; }

    /// <summary>Up to 4 non-empty strings at which generation ends; the stop string is not part of the output.</summary>
    public IReadOnlyList<string>? Stop { get; init; }
}
