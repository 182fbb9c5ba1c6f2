namespace Inference.Server.Results;

/// <summary>A finished inference's output, stored apart from the saga so the saga row stays small.</summary>
public sealed class InferenceResult
{
    public Guid InferenceId { get; set; }

    /// <summary>Embeddings as little-endian float32, <see cref="Dimensions"/> values per input, in input order.</summary>
    public byte[]? Embeddings { get; set; }

    public int Dimensions { get; set; }

    /// <summary>
    /// A generation's text as UTF-8 bytes (<see cref="ResultText"/>): generated text may hold any character, U+0000
    /// included, which PostgreSQL's text and jsonb cannot; null for an embedding.
    /// </summary>
    public byte[]? TextUtf8 { get; set; }

    /// <summary>Why the generation ended, <c>stop</c> or <c>length</c>; null for an embedding.</summary>
    public string? FinishReason { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}
