using Inference.Engine.Embeddings;
using Inference.Engine.Packaging;

namespace Inference.Engine.Tests;

/// <summary>Each test extracts the model into a cache directory of its own, deleted afterwards.</summary>
public sealed class ModelExtractionTests : IDisposable
{
    private const long ModelBytes = 90_893_304;

    private readonly string _cacheDirectory = Path.Combine(Path.GetTempPath(), "inference-engine-tests", Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_cacheDirectory, recursive: true);

    [Fact]
    public async Task A_second_catalogue_reuses_the_extracted_file()
    {
        using (var first = TestCatalogs.Create(UseTestCache))
        {
            await first.WarmUpAsync(CancellationToken.None);
        }

        var modelFile = Assert.Single(ModelFiles());
        Assert.Equal(ModelBytes, modelFile.Length);
        var extractedAt = modelFile.LastWriteTimeUtc;

        using var second = TestCatalogs.Create(UseTestCache);
        await second.WarmUpAsync(CancellationToken.None);

        Assert.True(TestCatalogs.MiniLmOf(second).IsLoaded);
        Assert.Equal(extractedAt, Assert.Single(ModelFiles()).LastWriteTimeUtc);
        Assert.Empty(TemporaryFiles());
    }

    [Fact]
    public async Task Concurrent_first_calls_from_two_catalogues_all_succeed()
    {
        using var first = TestCatalogs.Create(UseTestCache);
        using var second = TestCatalogs.Create(UseTestCache);
        var models = new[] { TestCatalogs.MiniLmOf(first), TestCatalogs.MiniLmOf(second) };

        var calls = Enumerable.Range(0, 8).Select(call => Task.Run(() => models[call % 2].EmbedAsync(["hello world"], CancellationToken.None)));
        var results = await Task.WhenAll(calls);

        Assert.All(results, result => Assert.InRange(Vectors.MaxAbsoluteDifference(results[0].Embeddings[0], result.Embeddings[0]), 0, 1e-6));
        Assert.Equal(ModelBytes, Assert.Single(ModelFiles()).Length);
        Assert.Empty(TemporaryFiles());
    }

    [Fact]
    public async Task A_truncated_model_file_is_replaced()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "models", AllMiniLmL6V2.AssemblyFileName);
        Guid moduleVersionId;
        using (var package = AssemblyResourceReader.Open(path))
        {
            moduleVersionId = package.ModuleVersionId;
        }

        var truncated = Path.Combine(_cacheDirectory, $"{TestCatalogs.MiniLm}-{moduleVersionId:N}", "model.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(truncated)!);
        await File.WriteAllBytesAsync(truncated, new byte[1000]);

        using var catalog = TestCatalogs.Create(UseTestCache);
        var result = await TestCatalogs.MiniLmOf(catalog).EmbedAsync(["hello world"], CancellationToken.None);

        Assert.Equal(ModelBytes, new FileInfo(truncated).Length);
        Assert.Equal(384, result.Embeddings[0].Length);
    }

    private void UseTestCache(EngineOptions options) => options.ModelCacheDirectory = _cacheDirectory;

    private IEnumerable<FileInfo> ModelFiles() =>
        new DirectoryInfo(_cacheDirectory).EnumerateFiles("model.onnx", SearchOption.AllDirectories);

    private IEnumerable<FileInfo> TemporaryFiles() =>
        new DirectoryInfo(_cacheDirectory).EnumerateFiles("*.tmp", SearchOption.AllDirectories);
}
