namespace Inference.Contracts;

/// <summary>
/// What a model produced: for an embedding model, one embedding per input, in input order; for a text-generation model,
/// the completion's <see cref="Text"/> and why it ended.
/// </summary>
public sealed record InferenceOutput
{
    public IReadOnlyList<float[]>? Embeddings { get; init; }

    /// <summary>The generated text, without the input and without the stop string that ended it.</summary>
    public string? Text { get; init; }

    /// <summary><c>stop</c> (a stop string or the end-of-sequence token) or <c>length</c> (the token limit).</summary>
    public string? FinishReason { get; init; }
}
