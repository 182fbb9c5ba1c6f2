namespace Inference.Engine;

/// <summary>One completion to generate.</summary>
public sealed record GenerationRequest
{
    /// <summary>The text to continue; at least one token.</summary>
    public required string Prompt { get; init; }

    /// <summary>The most tokens to add, at least 1 and at most the model's <see cref="ModelDescriptor.MaxOutputTokens"/>.</summary>
    public required int MaxTokens { get; init; }

    /// <summary>Sampling temperature, 0 to 2; 0 is greedy decoding (the most likely token every step).</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Nucleus sampling: only the most likely tokens whose probabilities add up to this are drawn from; (0, 1].</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Makes sampling repeatable: the same seed, prompt and parameters give the same text. Null: random.</summary>
    public long? Seed { get; init; }

    /// <summary>Up to 4 strings at which generation ends; the stop string itself is not part of the text.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>
    /// Called with each piece of text as soon as it is final (text that a stop string could still cut is held back), in
    /// order, on the decoding thread: it must return quickly and never throw. The pieces add up to
    /// <see cref="GenerationResult.Text"/>.
    /// </summary>
    public Action<string>? OnText { get; init; }
}
