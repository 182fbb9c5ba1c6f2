namespace Inference.Contracts;

/// <summary>What a model produced: for an embedding model, one embedding per input, in input order.</summary>
public sealed record InferenceOutput
{
    public IReadOnlyList<float[]>? Embeddings { get; init; }
}
