namespace Inference.Engine;

/// <summary>
/// A model of <see cref="ModelKind.TextGeneration"/>: a decoder-only language model that continues a prompt.
/// Concurrent calls are decoded together, one token step for every running sequence per model run, up to
/// <see cref="ModelDescriptor.MaxBatchSize"/> sequences at once.
/// </summary>
public interface ITextGenerationModel : IInferenceModel
{
    /// <summary>The token id that ends a sequence (GPT-2's <c>&lt;|endoftext|&gt;</c>), or null when the model has none.</summary>
    int? EndOfSequenceTokenId { get; }

    /// <summary>Continues <see cref="GenerationRequest.Prompt"/> until a stop string, the end-of-sequence token or
    /// <see cref="GenerationRequest.MaxTokens"/>.</summary>
    /// <exception cref="ArgumentException">The prompt is empty or longer than <see cref="ModelDescriptor.MaxInputTokens"/>,
    /// or a parameter is out of range.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled; the sequence leaves
    /// its batch at the next step.</exception>
    Task<GenerationResult> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken);
}
