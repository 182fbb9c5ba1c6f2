using System.Diagnostics;
using Inference.Engine.Embeddings;
using Microsoft.Extensions.Logging;

namespace Inference.Engine.Tests;

/// <summary>
/// Dynamic batching: concurrent calls on one model share model runs, each getting its own results, failures and
/// cancellations. Each test serves the bundled model under an id of its own, so its metrics are its own.
/// </summary>
[Collection(SharedMiniLmCollection.Name)]
public sealed class BatchingTests(SharedMiniLm miniLm)
{
    private const string BatchSize = "inference_batch_size";

    private static readonly string[] Sentences =
    [
        .. Enumerable.Range(1, 32).Select(n => n % 3 == 0
            ? $"Sentence {n} is somewhat longer than its neighbours, with a clause about item {n * 7} and another about {n}."
            : $"Sentence number {n} about item {n * 7}."),
    ];

    [Fact]
    public async Task Concurrent_single_input_calls_are_coalesced_and_each_gets_its_own_embedding()
    {
        using var metrics = new MetricsRecorder("coalesce");
        using var catalog = TestCatalogs.Create([TestCatalogs.Bundled("coalesce", maxBatchSize: 32, maxBatchDelayMs: 50)]);
        var model = TestCatalogs.EmbeddingOf(catalog, "coalesce");
        await model.WarmUpAsync(CancellationToken.None);

        var results = await Task.WhenAll(Sentences.Select(sentence => Task.Run(() => model.EmbedAsync([sentence], CancellationToken.None))));

        for (var i = 0; i < Sentences.Length; i++)
        {
            var alone = await miniLm.EmbedAsync(Sentences[i]);
            Assert.InRange(Vectors.MaxAbsoluteDifference(alone, results[i].Embeddings[0]), 0, 1e-5);
            Assert.Equal(model.CountTokens([Sentences[i]]).Total, results[i].PromptTokens);
        }

        var batches = metrics.Values(BatchSize);
        Assert.Equal(Sentences.Length, batches.Sum());
        Assert.True(batches.Max() > 1, $"Batch sizes: {string.Join(", ", batches)}");
        Assert.True(batches.Count < Sentences.Length, $"Batch sizes: {string.Join(", ", batches)}");
        Assert.Equal(Sentences.Length, metrics.Values("inference_duration_seconds").Count);
        Assert.Equal(results.Sum(result => result.PromptTokens), metrics.Values("inference_tokens_processed_total").Sum());
        Assert.All(metrics.Tags("inference_tokens_processed_total"), tags => Assert.Equal(("prompt", "cpu"), (tags["type"], tags["device"])));
        // A batch's requests share its start.
        Assert.True(results.Select(result => result.StartedAt).Distinct().Count() <= batches.Count);
    }

    [Fact]
    public async Task A_request_larger_than_the_batch_size_is_split_over_several_runs()
    {
        using var metrics = new MetricsRecorder("split");
        using var catalog = TestCatalogs.Create([TestCatalogs.Bundled("split", maxBatchSize: 4, maxBatchDelayMs: 0)]);
        var model = TestCatalogs.EmbeddingOf(catalog, "split");
        var before = DateTimeOffset.UtcNow;

        var result = await model.EmbedAsync(Sentences[..10], CancellationToken.None);

        Assert.Equal([4, 4, 2], metrics.Values(BatchSize).Order().Reverse());
        Assert.InRange(result.StartedAt, before, DateTimeOffset.UtcNow);
        for (var i = 0; i < 10; i++)
            Assert.InRange(Vectors.MaxAbsoluteDifference(await miniLm.EmbedAsync(Sentences[i]), result.Embeddings[i]), 0, 1e-5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Up_to_concurrent_runs_batches_run_at_once_and_a_request_split_over_them_gets_every_vector(int concurrentRuns)
    {
        var id = $"runs-{concurrentRuns}";
        var entry = TestCatalogs.Bundled(id, maxBatchSize: 2, maxBatchDelayMs: 0);
        entry.ConcurrentRuns = concurrentRuns;
        entry.Threads = 1;
        using var catalog = TestCatalogs.Create([entry]);
        var model = (SentenceEmbeddingModel)TestCatalogs.EmbeddingOf(catalog, id);
        await model.WarmUpAsync(CancellationToken.None);

        // One request of 32 inputs (16 runs of 2) and 32 single calls beside it: a queue far longer than the run slots.
        var split = Task.Run(() => model.EmbedAsync(Sentences, CancellationToken.None));
        var singles = await Task.WhenAll(Sentences.Select(sentence => Task.Run(() => model.EmbedAsync([sentence], CancellationToken.None))));
        var whole = await split;

        Assert.Equal(concurrentRuns, model.MostOnnxCallsAtOnce);
        for (var i = 0; i < Sentences.Length; i++)
        {
            var alone = await miniLm.EmbedAsync(Sentences[i]);
            Assert.InRange(Vectors.MaxAbsoluteDifference(alone, whole.Embeddings[i]), 0, 1e-5);
            Assert.InRange(Vectors.MaxAbsoluteDifference(alone, singles[i].Embeddings[0]), 0, 1e-5);
        }

        Assert.Equal(model.CountTokens(Sentences).Total, whole.PromptTokens);
    }

    [Theory]
    [InlineData(1, 50)]
    [InlineData(32, 0)]
    public async Task Batching_off_still_answers_every_call(int maxBatchSize, int maxBatchDelayMs)
    {
        var id = $"off-{maxBatchSize}-{maxBatchDelayMs}";
        using var metrics = new MetricsRecorder(id);
        using var catalog = TestCatalogs.Create([TestCatalogs.Bundled(id, maxBatchSize, maxBatchDelayMs)]);
        var model = TestCatalogs.EmbeddingOf(catalog, id);

        var results = await Task.WhenAll(Sentences[..8].Select(sentence => Task.Run(() => model.EmbedAsync([sentence], CancellationToken.None))));

        for (var i = 0; i < 8; i++)
            Assert.InRange(Vectors.MaxAbsoluteDifference(await miniLm.EmbedAsync(Sentences[i]), results[i].Embeddings[0]), 0, 1e-5);
        Assert.Equal(8, metrics.Values(BatchSize).Sum());
        if (maxBatchSize == 1)
            Assert.All(metrics.Values(BatchSize), size => Assert.Equal(1, size));
    }

    [Fact]
    public async Task A_too_long_input_fails_its_own_call_only()
    {
        using var catalog = TestCatalogs.Create([TestCatalogs.Bundled("too-long", maxBatchSize: 32, maxBatchDelayMs: 50)]);
        var model = TestCatalogs.EmbeddingOf(catalog, "too-long");
        var tooLong = string.Join(' ', Enumerable.Repeat("word", 300));

        var good = Sentences[..4].Select(sentence => Task.Run(() => model.EmbedAsync([sentence], CancellationToken.None))).ToArray();
        var bad = Task.Run(() => model.EmbedAsync(["fine", tooLong], CancellationToken.None));

        var exception = await Assert.ThrowsAsync<ArgumentException>(() => bad);
        Assert.Contains("Input 1 has 302 tokens", exception.Message, StringComparison.Ordinal);
        Assert.All(await Task.WhenAll(good), result => Assert.Single(result.Embeddings));
    }

    [Fact]
    public async Task A_call_canceled_before_its_batch_runs_leaves_the_queue()
    {
        using var metrics = new MetricsRecorder("cancel-queued");
        using var catalog = TestCatalogs.Create([TestCatalogs.Bundled("cancel-queued", maxBatchSize: 32, maxBatchDelayMs: 1_000)]);
        var model = TestCatalogs.EmbeddingOf(catalog, "cancel-queued");
        await model.WarmUpAsync(CancellationToken.None);
        using var cancellation = new CancellationTokenSource();

        var canceled = model.EmbedAsync(["canceled while it waits", "and its second input"], cancellation.Token);
        var kept = model.EmbedAsync(["kept"], CancellationToken.None);
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
        var result = await kept;
        Assert.InRange(Vectors.MaxAbsoluteDifference(await miniLm.EmbedAsync("kept"), result.Embeddings[0]), 0, 1e-5);
        Assert.Equal([1], metrics.Values(BatchSize));
    }

    [Fact]
    public async Task A_call_canceled_while_its_batch_runs_does_not_fail_its_neighbours()
    {
        using var catalog = TestCatalogs.Create([TestCatalogs.Bundled("cancel-running", maxBatchSize: 32, maxBatchDelayMs: 300)]);
        var model = Assert.IsType<SentenceEmbeddingModel>(TestCatalogs.EmbeddingOf(catalog, "cancel-running"));
        await model.WarmUpAsync(CancellationToken.None);
        // Long inputs, so the run lasts long enough to be canceled inside (a second or so on two cores).
        var longInputs = Enumerable.Repeat(string.Join(' ', Enumerable.Repeat("word", 250)), 16).ToArray();
        using var cancellation = new CancellationTokenSource();

        var canceled = model.EmbedAsync(longInputs, cancellation.Token);
        var neighbour = model.EmbedAsync(["the neighbour", .. longInputs[..4]], CancellationToken.None);
        var watcher = new Thread(() =>
        {
            var deadline = Stopwatch.StartNew();
            while (model.OnnxCallsInProgress == 0 && deadline.Elapsed < TimeSpan.FromSeconds(30))
                Thread.Sleep(1);
            cancellation.Cancel();
        });
        watcher.Start();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
        var result = await neighbour;
        watcher.Join();
        Assert.Equal(5, result.Embeddings.Count);
        Assert.InRange(Vectors.MaxAbsoluteDifference(await miniLm.EmbedAsync("the neighbour"), result.Embeddings[0]), 0, 1e-5);
    }

    [Fact]
    public async Task The_direct_path_runs_exactly_one_model_call_whatever_the_batch_size()
    {
        using var metrics = new MetricsRecorder("direct");
        using var catalog = TestCatalogs.Create([TestCatalogs.Bundled("direct", maxBatchSize: 4)]);
        var model = TestCatalogs.EmbeddingOf(catalog, "direct");

        var result = await model.EmbedBatchDirectAsync(Sentences[..10], CancellationToken.None);

        Assert.Equal([10], metrics.Values(BatchSize));
        for (var i = 0; i < 10; i++)
            Assert.InRange(Vectors.MaxAbsoluteDifference(await miniLm.EmbedAsync(Sentences[i]), result.Embeddings[i]), 0, 1e-5);
    }

    [Fact]
    public void A_batch_takes_the_oldest_input_and_those_closest_to_it_in_length()
    {
        // (arrival, length); the oldest is 40 tokens long.
        List<(int Arrival, int Length)> pending = [(0, 40), (1, 5), (2, 6), (3, 38), (4, 7), (5, 42), (6, 100)];

        var batch = SentenceEmbeddingModel.TakeBatch(pending, 3, input => input.Length);

        Assert.Equal([3, 0, 5], batch.Select(input => input.Arrival));
        Assert.Equal([1, 2, 4, 6], pending.Select(input => input.Arrival));
        Assert.Equal([1, 2, 4], SentenceEmbeddingModel.TakeBatch(pending, 3, input => input.Length).Select(input => input.Arrival));
        Assert.Equal([6], SentenceEmbeddingModel.TakeBatch(pending, 3, input => input.Length).Select(input => input.Arrival));
        Assert.Empty(pending);
    }

    [Fact]
    public void A_batch_of_long_inputs_is_cut_to_the_token_budget_keeping_the_oldest_and_its_nearest_lengths()
    {
        // (arrival, length); the oldest is 100 tokens long. Budget 300: 3 inputs of up to 100 tokens.
        List<(int Arrival, int Length)> pending = [(0, 100), (1, 10), (2, 90), (3, 95), (4, 12), (5, 120)];

        var batch = SentenceEmbeddingModel.TakeBatch(pending, 8, input => input.Length, maxBatchTokens: 300);

        // 6 x 120 > 300, then 5 x 120, 4 x 120 (dropping 1 and 4, farthest from 100), then 120 itself goes: 3 x 100 fits.
        Assert.Equal([2, 3, 0], batch.Select(input => input.Arrival));
        Assert.Equal([1, 4, 5], pending.Select(input => input.Arrival));

        // Short inputs fit whole; one input longer than the budget still runs, alone.
        Assert.Equal([1, 4], SentenceEmbeddingModel.TakeBatch(pending, 2, input => input.Length, maxBatchTokens: 300).Select(input => input.Arrival));
        List<(int Arrival, int Length)> huge = [(0, 500), (1, 400)];
        Assert.Equal([0], SentenceEmbeddingModel.TakeBatch(huge, 8, input => input.Length, maxBatchTokens: 300).Select(input => input.Arrival));
        Assert.Equal([1], huge.Select(input => input.Arrival));
    }

    [Fact]
    public async Task Cuda_in_the_CPU_build_runs_on_the_CPU_with_a_warning()
    {
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        using var catalog = TestCatalogs.Create([TestCatalogs.Bundled("on-cuda", device: "cuda")], loggerFactory);
        var model = TestCatalogs.EmbeddingOf(catalog, "on-cuda");

        var result = await model.EmbedAsync(["hello world"], CancellationToken.None);

        Assert.InRange(Vectors.MaxAbsoluteDifference(await miniLm.EmbedAsync("hello world"), result.Embeddings[0]), 0, 1e-5);
        Assert.Equal("cpu", model.Descriptor.Device);
        Assert.Equal("cpu", Assert.Single(catalog.Models).Device);
        var warning = Assert.Single(logs.Entries, entry => entry.Message.Contains("configured for cuda", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.StartsWith("Model on-cuda is configured for cuda but runs on cpu: ", warning.Message, StringComparison.Ordinal);
        var session = Assert.Single(logs.Entries, entry => entry.Message.StartsWith("Created ONNX Runtime session for on-cuda", StringComparison.Ordinal));
        Assert.Contains(" on cpu with ", session.Message, StringComparison.Ordinal);
    }
}

/// <summary>What a model that cannot load, and disposal, do to calls waiting for a batch.</summary>
public sealed class BatchingLifetimeTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "inference-batching-tests", Guid.NewGuid().ToString("N"));

    public BatchingLifetimeTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_model_that_cannot_load_fails_each_call_and_the_loop_goes_on()
    {
        var files = EmbeddingFiles.ExtractMiniLm(_directory);
        var notOnnx = Path.Combine(_directory, "model.onnx");
        await File.WriteAllTextAsync(notOnnx, "this is not a model");
        using var catalog = TestCatalogs.Create(
        [
            new Registry.ModelOptions
            {
                Id = "broken", Task = "embedding", Path = notOnnx, MaxInputTokens = 256, Dimensions = 384,
                Tokenizer = new() { Kind = "bert", Path = files.Vocabulary },
            },
        ]);
        var model = TestCatalogs.EmbeddingOf(catalog, "broken");

        // The tokenizer works, so counting does; the session fails on first use, for each call, and nothing hangs.
        Assert.Equal(4, model.CountTokens(["hello world"]).Total);
        await Assert.ThrowsAsync<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => model.EmbedAsync(["first"], CancellationToken.None));
        await Assert.ThrowsAsync<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(() => model.EmbedAsync(["second"], CancellationToken.None)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(model.IsLoaded);
    }

    [Fact]
    public async Task Disposing_fails_the_calls_still_queued()
    {
        var catalog = TestCatalogs.Create([TestCatalogs.Bundled("dispose-queued", maxBatchSize: 32, maxBatchDelayMs: 5_000)]);
        var model = TestCatalogs.EmbeddingOf(catalog, "dispose-queued");
        await model.WarmUpAsync(CancellationToken.None);

        var queued = model.EmbedAsync(["waiting for company"], CancellationToken.None);
        catalog.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => queued);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => model.EmbedAsync(["too late"], CancellationToken.None));
    }
}
