using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Inference.Engine.Tests;

public sealed class EngineRegistrationTests
{
    [Fact]
    public void Options_are_bound_from_the_Engine_section()
    {
        using var host = BuildHost(new() { ["Engine:MaxBatchSize"] = "8", ["Engine:IntraOpThreads"] = "1" });

        var catalog = host.Services.GetRequiredService<ModelCatalog>();

        var model = Assert.Single(catalog.Models);
        Assert.Equal(new ModelDescriptor(TestCatalogs.MiniLm, ModelKind.Embedding, 256, 384, 8)
        {
            Published = new DateTimeOffset(2024, 9, 22, 0, 0, 0, TimeSpan.Zero),
            Publisher = "sentence-transformers",
            Device = "cpu",
            MaxBatchDelay = TimeSpan.FromMilliseconds(2),
            MaxBatchTokens = 1024,
        }, model);
        Assert.Equal(1, host.Services.GetRequiredService<IOptions<EngineOptions>>().Value.IntraOpThreads);
        Assert.Same(catalog, host.Services.GetRequiredService<ModelCatalog>());
    }

    [Theory]
    [InlineData("Engine:MaxBatchSize", "0")]
    [InlineData("Engine:IntraOpThreads", "0")]
    [InlineData("Engine:ModelCacheDirectory", "")]
    public async Task Invalid_options_stop_the_host_at_start(string key, string value)
    {
        using var host = BuildHost(new() { [key] = value });

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(key.Split(':')[1], exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_the_host_disposes_the_sessions()
    {
        IEmbeddingModel model;
        using (var host = BuildHost([]))
        {
            await host.StartAsync();
            var catalog = host.Services.GetRequiredService<ModelCatalog>();
            model = TestCatalogs.MiniLmOf(catalog);
            await catalog.WarmUpAsync(CancellationToken.None);
            Assert.True(model.IsLoaded);
            await host.StopAsync();
        }

        Assert.False(model.IsLoaded);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => model.EmbedAsync(["hello"], CancellationToken.None));
    }

    [Fact]
    public void Unknown_model_ids_are_not_found()
    {
        using var catalog = TestCatalogs.Create();

        Assert.False(catalog.TryGet("all-MiniLM-L6-v2", out _));
        Assert.False(catalog.TryGet("gpt2", out _));
        Assert.True(catalog.TryGet(TestCatalogs.MiniLm, out var model));
        Assert.Equal(ModelKind.Embedding, model.Descriptor.Kind);
    }

    private static IHost BuildHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddInferenceEngine(builder.Configuration);
        return builder.Build();
    }
}
