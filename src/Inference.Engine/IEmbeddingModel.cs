namespace Inference.Engine;

/// <summary>A model of <see cref="ModelKind.Embedding"/>: maps texts to vectors of <see cref="ModelDescriptor.Dimensions"/> floats.</summary>
public interface IEmbeddingModel : IInferenceModel
{
    /// <summary>
    /// Embeds <paramref name="inputs"/>. Concurrent calls are batched together: their inputs queue for the model, and
    /// runs of at most <see cref="ModelDescriptor.MaxBatchSize"/> inputs of similar length are formed within
    /// <see cref="ModelDescriptor.MaxBatchDelay"/> of the oldest's arrival; a request with more inputs is split over
    /// several runs. <see cref="EmbeddingResult.StartedAt"/> is when its first run began.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// An input is longer than <see cref="ModelDescriptor.MaxInputTokens"/>; check with <see cref="IInferenceModel.CountTokens"/> first.
    /// </exception>
    /// <exception cref="OperationCanceledException">
    /// <paramref name="cancellationToken"/> was cancelled, also mid-run: the request leaves the queue, or its rows of a
    /// run are dropped (the run stops only when every request in it is cancelled). Other requests are not affected.
    /// </exception>
    Task<EmbeddingResult> EmbedAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken);

    /// <summary>
    /// Runs <paramref name="inputs"/> through the model in exactly one ONNX Runtime call, however many they are, on
    /// the calling thread and outside the batching queue: for benchmarks that measure ONNX Runtime itself.
    /// </summary>
    /// <exception cref="ArgumentException">An input is longer than <see cref="ModelDescriptor.MaxInputTokens"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled, also mid-run.</exception>
    Task<EmbeddingResult> EmbedBatchDirectAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken);
}
