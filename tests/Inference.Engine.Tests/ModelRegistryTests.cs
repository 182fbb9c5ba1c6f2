using Inference.Engine.Registry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Inference.Engine.Tests;

/// <summary>The <c>Models</c> section: binding, defaults, and a start that stops on any misconfigured entry, naming it and the key.</summary>
public sealed class ModelRegistryTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "inference-registry-tests", Guid.NewGuid().ToString("N"));
    private readonly string _onnx;
    private readonly string _vocab;

    public ModelRegistryTests()
    {
        Directory.CreateDirectory(_directory);
        // Only existence is checked at start; nothing here loads them.
        _onnx = Path.Combine(_directory, "model.onnx");
        _vocab = Path.Combine(_directory, "vocab.txt");
        File.WriteAllText(_onnx, "not read");
        File.WriteAllText(_vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Every_key_is_bound_from_snake_case()
    {
        using var host = BuildHost(new()
        {
            ["Models:0:id"] = "mini",
            ["Models:0:task"] = "embedding",
            ["Models:0:path"] = "bundled:all-minilm-l6-v2",
            ["Models:0:max_input_tokens"] = "128",
            ["Models:0:max_batch_size"] = "16",
            ["Models:0:max_batch_delay_ms"] = "7",
            ["Models:0:device"] = "cpu",
            ["Models:0:threads"] = "1",
            ["Models:0:dimensions"] = "384",
            ["Models:0:publisher"] = "us",
            ["Models:0:published"] = "2025-01-02T00:00:00Z",
            ["Models:1:id"] = "gen",
            ["Models:1:task"] = "text-generation",
            ["Models:1:path"] = _onnx,
            ["Models:1:tokenizer:kind"] = "bert",
            ["Models:1:tokenizer:path"] = _vocab,
            ["Models:1:tokenizer:lower_case"] = "false",
            ["Models:1:max_input_tokens"] = "1024",
            ["Models:1:max_output_tokens"] = "64",
            ["Models:1:eos_token"] = "[SEP]",
        });

        var models = host.Services.GetRequiredService<IOptions<ModelRegistryOptions>>().Value.Models;

        Assert.Equal(2, models.Count);
        var mini = models[0];
        Assert.Equal(("mini", "embedding", "bundled:all-minilm-l6-v2", 128, 16, 7, "cpu", 1, 384, "us"),
            (mini.Id, mini.Task, mini.Path, mini.MaxInputTokens, mini.MaxBatchSize, mini.MaxBatchDelayMs, mini.Device, mini.Threads, mini.Dimensions, mini.Publisher));
        Assert.Equal(new DateTimeOffset(2025, 1, 2, 0, 0, 0, TimeSpan.Zero), mini.Published);
        var gen = models[1];
        Assert.Equal(("bert", _vocab, false, 64, "[SEP]"), (gen.Tokenizer?.Kind, gen.Tokenizer?.Path, gen.Tokenizer?.LowerCase, gen.MaxOutputTokens, gen.EosToken));
    }

    [Fact]
    public void Defaults_come_from_the_Engine_section_and_the_registry()
    {
        var engine = new EngineOptions { MaxBatchSize = 12, IntraOpThreads = 3 };

        var (specs, failures) = ModelRegistry.Resolve(engine,
        [
            new ModelOptions { Id = "mini", Task = "embedding", Path = ModelOptions.BundledMiniLm },
            new ModelOptions { Id = "gen", Task = "text-generation", Path = _onnx, Tokenizer = new() { Kind = "gpt2" }, MaxInputTokens = 1024 },
        ]);

        Assert.Empty(failures);
        // The embedding model's two runs share the three threads, one each; the generation model's one run has all three.
        Assert.Equal((256, 384, 12, 1, 2, TimeSpan.FromMilliseconds(2), "cpu", (int?)null), (specs[0].MaxInputTokens, specs[0].Dimensions!.Value,
            specs[0].MaxBatchSize, specs[0].Threads, specs[0].ConcurrentRuns, specs[0].MaxBatchDelay, specs[0].Device, specs[0].MaxOutputTokens));
        Assert.Equal((256, (int?)null, 12, 3, 1, "Models:1 (gen)"),
            (specs[1].MaxOutputTokens!.Value, specs[1].Dimensions, specs[1].MaxBatchSize, specs[1].Threads, specs[1].ConcurrentRuns, specs[1].Key));
    }

    [Theory]
    // Engine:IntraOpThreads, task, device, entry's threads, entry's concurrent_runs -> threads per run, runs at once
    [InlineData(3, "embedding", "cpu", null, null, 1, 2)]
    [InlineData(8, "embedding", "cpu", null, null, 4, 2)]
    [InlineData(1, "embedding", "cpu", null, null, 1, 1)]
    [InlineData(8, "embedding", "cuda", null, null, 8, 1)]
    [InlineData(8, "embedding", "cpu", null, 4, 2, 4)]
    [InlineData(8, "embedding", "cpu", 3, null, 3, 2)]
    [InlineData(2, "embedding", "cpu", 2, 1, 2, 1)]
    [InlineData(3, "text-generation", "cpu", null, null, 3, 1)]
    public void An_embedding_model_on_a_CPU_shares_the_threads_among_two_runs_unless_told_otherwise(
        int engineThreads, string task, string device, int? threads, int? concurrentRuns, int expectedThreads, int expectedRuns)
    {
        var entry = task == "embedding"
            ? new ModelOptions { Id = "m", Task = task, Path = ModelOptions.BundledMiniLm }
            : new ModelOptions { Id = "m", Task = task, Path = _onnx, Tokenizer = new() { Kind = "gpt2" }, MaxInputTokens = 1024 };
        entry.Device = device;
        entry.Threads = threads;
        entry.ConcurrentRuns = concurrentRuns;

        var (specs, failures) = ModelRegistry.Resolve(new EngineOptions { IntraOpThreads = engineThreads }, [entry]);

        Assert.Empty(failures);
        Assert.Equal((expectedThreads, expectedRuns), (specs[0].Threads, specs[0].ConcurrentRuns));
    }

    [Fact]
    public void The_default_bundled_model_runs_two_batches_at_once_with_half_the_threads_each()
    {
        var (specs, failures) = ModelRegistry.Resolve(new EngineOptions { IntraOpThreads = 4 }, []);

        Assert.Empty(failures);
        Assert.Equal((2, 2), (specs[0].Threads, specs[0].ConcurrentRuns));
    }

    [Fact]
    public void An_empty_section_serves_the_bundled_model_with_the_Engine_settings()
    {
        using var host = BuildHost(new() { ["Engine:MaxBatchSize"] = "5", ["Engine:IntraOpThreads"] = "1" });

        var catalog = host.Services.GetRequiredService<ModelCatalog>();

        var model = Assert.Single(catalog.Models);
        Assert.Equal((TestCatalogs.MiniLm, "embedding", 5, 384, "cpu"), (model.Id, model.Task, model.MaxBatchSize, model.Dimensions, model.Device));
        Assert.Equal(TimeSpan.FromMilliseconds(2), model.MaxBatchDelay);
    }

    [Fact]
    public void The_bundled_model_can_be_served_under_other_ids_with_other_settings()
    {
        using var catalog = TestCatalogs.Create(
        [
            TestCatalogs.Bundled("fast", maxBatchSize: 64, maxBatchDelayMs: 0),
            new ModelOptions { Id = "short", Task = "embedding", Path = ModelOptions.BundledMiniLm, MaxInputTokens = 64, Publisher = "us" },
        ]);

        Assert.Equal(["fast", "short"], catalog.Models.Select(model => model.Id));
        Assert.True(catalog.TryDescribe("fast", out var fast));
        Assert.Equal((64, TimeSpan.Zero), (fast.MaxBatchSize, fast.MaxBatchDelay));
        Assert.True(catalog.TryDescribe("short", out var shortOne));
        Assert.Equal((64, "us", new DateTimeOffset(2024, 9, 22, 0, 0, 0, TimeSpan.Zero)), (shortOne.MaxInputTokens, shortOne.Publisher, shortOne.Published));
        Assert.False(catalog.TryGet(TestCatalogs.MiniLm, out _));
    }

    [Fact]
    public async Task A_worker_warms_only_the_models_it_names()
    {
        using var catalog = TestCatalogs.Create([TestCatalogs.Bundled("warm-a"), TestCatalogs.Bundled("warm-b")]);

        await catalog.WarmUpAsync(["warm-b"], CancellationToken.None);

        Assert.False(TestCatalogs.EmbeddingOf(catalog, "warm-a").IsLoaded);
        Assert.True(TestCatalogs.EmbeddingOf(catalog, "warm-b").IsLoaded);
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => catalog.WarmUpAsync(["warm-b", "nope"], CancellationToken.None));
        Assert.Contains("'nope'", unknown.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> Misconfigurations => new()
    {
        // key to set (under Models:1), value, expected message
        { "id", "", "Models:1: 'id' is required" },
        { "id", "Upper", "Models:1 (Upper): 'id' 'Upper' must be lower-case" },
        { "id", "has space", "Models:1 (has space): 'id' 'has space' must be lower-case" },
        { "id", "first", "Models:1 (first): 'id' 'first' is also the id of Models:0; ids must be unique" },
        { "task", "classification", "Models:1 (second): 'task' 'classification' is not embedding or text-generation" },
        { "path", "/nowhere/model.onnx", "Models:1 (second): 'path' '/nowhere/model.onnx' does not exist" },
        { "path", "bundled:gpt2", "Models:1 (second): 'path' 'bundled:gpt2' is not a bundled model" },
        { "device", "tpu", "Models:1 (second): 'device' 'tpu' is not cpu or cuda" },
        { "tokenizer:kind", "sentencepiece", "Models:1 (second): 'tokenizer:kind' 'sentencepiece' is not bert, gpt2 or tokenizer-json" },
        { "tokenizer:path", "/nowhere/vocab.txt", "Models:1 (second): 'tokenizer:path' '/nowhere/vocab.txt' does not exist" },
        { "max_input_tokens", "0", "Models:1 (second): 'max_input_tokens' 0 is out of range" },
        { "max_batch_size", "0", "Models:1 (second): 'max_batch_size' 0 is out of range: 1 to 4096" },
        { "max_batch_delay_ms", "-1", "Models:1 (second): 'max_batch_delay_ms' -1 is out of range: 0 to 10000" },
        { "threads", "0", "Models:1 (second): 'threads' 0 is out of range: 1 to 256" },
        { "concurrent_runs", "0", "Models:1 (second): 'concurrent_runs' 0 is out of range: 1 to 64" },
        { "dimensions", "0", "Models:1 (second): 'dimensions' 0 is out of range" },
        { "max_output_tokens", "10", "Models:1 (second): 'max_output_tokens' applies to text-generation models only" },
        { "eos_token", "[SEP]", "Models:1 (second): 'eos_token' applies to text-generation models only" },
    };

    [Theory]
    [MemberData(nameof(Misconfigurations))]
    public async Task A_misconfigured_entry_stops_the_start_naming_the_model_and_the_key(string key, string value, string expected)
    {
        var settings = ValidTwoModels();
        settings[$"Models:1:{key}"] = value;
        using var host = BuildHost(settings);

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("task", "text-generation", "Models:0 (first): 'task' 'text-generation' does not fit bundled:all-minilm-l6-v2")]
    [InlineData("dimensions", "768", "Models:0 (first): 'dimensions' 768 does not match bundled:all-minilm-l6-v2, which has 384")]
    [InlineData("tokenizer:kind", "bert", "Models:0 (first): 'tokenizer' must not be set: bundled:all-minilm-l6-v2 brings its own")]
    [InlineData("max_input_tokens", "600", "Models:0 (first): 'max_input_tokens' 600 is more than bundled:all-minilm-l6-v2 takes (512)")]
    public async Task The_bundled_model_refuses_settings_it_cannot_honour(string key, string value, string expected)
    {
        var settings = ValidTwoModels();
        settings[$"Models:0:{key}"] = value;
        using var host = BuildHost(settings);

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("task", "Models:1 (second): 'task' is required")]
    [InlineData("path", "Models:1 (second): 'path' is required")]
    [InlineData("tokenizer:kind", "Models:1 (second): 'tokenizer' is required")]
    [InlineData("max_input_tokens", "Models:1 (second): 'max_input_tokens' is required")]
    [InlineData("dimensions", "Models:1 (second): 'dimensions' is required for an embedding model")]
    public async Task A_missing_required_key_stops_the_start(string key, string expected)
    {
        var settings = ValidTwoModels();
        settings.Remove($"Models:1:{key}");
        if (key == "tokenizer:kind")
            settings.Remove("Models:1:tokenizer:path");
        using var host = BuildHost(settings);

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generation_entries_check_their_own_keys()
    {
        using var host = BuildHost(new()
        {
            ["Models:0:id"] = "gen",
            ["Models:0:task"] = "text-generation",
            ["Models:0:path"] = _onnx,
            ["Models:0:tokenizer:kind"] = "gpt2",
            ["Models:0:tokenizer:path"] = _vocab,
            ["Models:0:max_input_tokens"] = "1024",
            ["Models:0:max_output_tokens"] = "0",
            ["Models:0:dimensions"] = "768",
            ["Models:0:concurrent_runs"] = "2",
        });

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Models:0 (gen): 'concurrent_runs' applies to embedding models only", exception.Message, StringComparison.Ordinal);
        Assert.Contains("Models:0 (gen): 'tokenizer:path' must not be set for gpt2", exception.Message, StringComparison.Ordinal);
        Assert.Contains("Models:0 (gen): 'max_output_tokens' 0 is out of range", exception.Message, StringComparison.Ordinal);
        Assert.Contains("Models:0 (gen): 'dimensions' applies to embedding models only", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tokenizer_that_does_not_parse_stops_the_start()
    {
        var broken = Path.Combine(_directory, "tokenizer.json");
        await File.WriteAllTextAsync(broken, "{ not json");
        var settings = ValidTwoModels();
        settings["Models:1:tokenizer:kind"] = "tokenizer-json";
        settings["Models:1:tokenizer:path"] = broken;
        using var host = BuildHost(settings);

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains($"Models:1 (second): 'tokenizer:path' '{broken}' is not a usable tokenizer", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_embedding_model_whose_output_is_not_its_dimensions_fails_at_load_naming_it()
    {
        var miniLmFile = EmbeddingFiles.ExtractMiniLm(_directory);
        using var catalog = TestCatalogs.Create(
        [
            new ModelOptions
            {
                Id = "wrong-width", Task = "embedding", Path = miniLmFile.Model, MaxInputTokens = 256, Dimensions = 768,
                Tokenizer = new() { Kind = "bert", Path = miniLmFile.Vocabulary },
            },
        ]);

        var exception = Assert.Throws<InvalidDataException>(() =>
            TestCatalogs.EmbeddingOf(catalog, "wrong-width").WarmUpAsync(CancellationToken.None).GetAwaiter().GetResult());

        Assert.Contains("Model wrong-width does not output last_hidden_state as [batch, sequence, 768]", exception.Message, StringComparison.Ordinal);
    }

    private Dictionary<string, string?> ValidTwoModels() => new()
    {
        ["Models:0:id"] = "first",
        ["Models:0:task"] = "embedding",
        ["Models:0:path"] = ModelOptions.BundledMiniLm,
        ["Models:1:id"] = "second",
        ["Models:1:task"] = "embedding",
        ["Models:1:path"] = _onnx,
        ["Models:1:tokenizer:kind"] = "bert",
        ["Models:1:tokenizer:path"] = _vocab,
        ["Models:1:max_input_tokens"] = "128",
        ["Models:1:dimensions"] = "384",
    };

    private static IHost BuildHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddInferenceEngine(builder.Configuration);
        return builder.Build();
    }
}
