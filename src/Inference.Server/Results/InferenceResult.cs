namespace Inference.Server.Results;

/// <summary>A finished inference's output, stored apart from the saga so the saga row stays small.</summary>
public sealed class InferenceResult
{
    public Guid InferenceId { get; set; }

    /// <summary>Embeddings as little-endian float32, <see cref="Dimensions"/> values per input, in input order.</summary>
    public byte[]? Embeddings { get; set; }

    public int Dimensions { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}
