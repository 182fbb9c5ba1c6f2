using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Generation;

/// <summary>
/// A decoder-only ONNX language model (<c>input_ids</c>, optionally <c>attention_mask</c>, <c>position_ids</c> and
/// Hugging Face Optimum's <c>past_key_values.*</c>/<c>present.*</c> cache) -> <c>logits</c>.
/// </summary>
internal sealed class DecoderGenerationModel : ITextGenerationModel, IDisposable
{
    /// <param name="descriptor">A text-generation descriptor with <see cref="ModelDescriptor.MaxOutputTokens"/>.</param>
    /// <param name="tokenizer">The tokenizer the model was trained with.</param>
    /// <param name="endOfSequenceTokenId">The token that ends a sequence, or null.</param>
    /// <param name="createSession">Loads the model; called once, on first use, under a lock.</param>
    /// <param name="logger">For the model's own events.</param>
    public DecoderGenerationModel(ModelDescriptor descriptor, Tokenizer tokenizer, int? endOfSequenceTokenId,
        Func<InferenceSession> createSession, ILogger logger)
    {
        Descriptor = descriptor;
        EndOfSequenceTokenId = endOfSequenceTokenId;
        _ = (tokenizer, createSession, logger);
        throw new NotImplementedException("Skeleton: the generation helper implements this.");
    }

    public ModelDescriptor Descriptor { get; }

    public int? EndOfSequenceTokenId { get; }

    public bool IsLoaded => throw new NotImplementedException();

    public TokenCount CountTokens(IReadOnlyList<string> inputs) => throw new NotImplementedException();

    public string? DecodeTokens(IReadOnlyList<int> tokenIds) => throw new NotImplementedException();

    public Task WarmUpAsync(CancellationToken cancellationToken) => throw new NotImplementedException();

    public Task<GenerationResult> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    public void Dispose()
    {
    }
}
