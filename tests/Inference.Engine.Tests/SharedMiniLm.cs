namespace Inference.Engine.Tests;

/// <summary>
/// One loaded MiniLM for every test that only reads embeddings, with the default cache directory, so a test run
/// extracts the model at most once and usually not at all.
/// </summary>
public sealed class SharedMiniLm : IDisposable
{
    private readonly ModelCatalog _catalog = TestCatalogs.Create();

    public SharedMiniLm() => Model = TestCatalogs.MiniLmOf(_catalog);

    public IEmbeddingModel Model { get; }

    public async Task<float[]> EmbedAsync(string input) => (await Model.EmbedAsync([input], CancellationToken.None)).Embeddings[0];

    public void Dispose() => _catalog.Dispose();
}

[CollectionDefinition(Name)]
public sealed class SharedMiniLmCollection : ICollectionFixture<SharedMiniLm>
{
    public const string Name = "Shared MiniLM";
}
