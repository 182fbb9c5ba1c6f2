using Inference.Engine.Onnx;
using Inference.Engine.Registry;
using Microsoft.Extensions.Logging;

namespace Inference.Engine.Embeddings;

/// <summary>
/// A registry entry's BERT-family sentence embedding model from files: an ONNX export and its WordPiece vocabulary
/// (<c>vocab.txt</c>, or a <c>tokenizer.json</c>), e.g. Optimum's export of any sentence-transformers BERT model.
/// </summary>
internal static class BertEmbeddingModels
{
    /// <exception cref="InvalidDataException">The tokenizer file is not usable; the message names the entry and key.</exception>
    public static SentenceEmbeddingModel Create(ModelSpec spec, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger<SentenceEmbeddingModel>();
        var (tokenizer, vocabularySize) = TokenizerFactory.CreateWordPiece(spec, logger);
        var sessions = new OnnxSessionFactory(spec.Id, spec.Threads, spec.Device, loggerFactory.CreateLogger<OnnxSessionFactory>());
        var descriptor = new ModelDescriptor(spec.Id, ModelKind.Embedding, spec.MaxInputTokens, spec.Dimensions, spec.MaxBatchSize)
        {
            Published = spec.Published ?? DateTimeOffset.UnixEpoch,
            Publisher = spec.Publisher ?? "unknown",
            Device = sessions.Device,
            MaxBatchDelay = spec.MaxBatchDelay,
            MaxBatchTokens = spec.MaxBatchTokens,
            ConcurrentRuns = spec.ConcurrentRuns,
        };
        var path = spec.Path!;
        return new SentenceEmbeddingModel(descriptor, tokenizer, vocabularySize, () => sessions.Create(path), () => sessions.Device, logger);
    }
}
