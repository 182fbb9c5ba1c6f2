namespace Inference.Engine;

/// <summary>A model of <see cref="ModelKind.Embedding"/>: maps texts to vectors of <see cref="ModelDescriptor.Dimensions"/> floats.</summary>
public interface IEmbeddingModel : IInferenceModel
{
    /// <summary>
    /// Embeds <paramref name="inputs"/>, running them in batches of at most <see cref="ModelDescriptor.MaxBatchSize"/>.
    /// The work is CPU-bound and runs on the calling thread.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// An input is longer than <see cref="ModelDescriptor.MaxInputTokens"/>; check with <see cref="IInferenceModel.CountTokens"/> first.
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled, also mid-run.</exception>
    Task<EmbeddingResult> EmbedAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken);
}
