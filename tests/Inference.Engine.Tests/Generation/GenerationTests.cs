using System.Collections.Concurrent;
using Inference.TestModels;

namespace Inference.Engine.Tests.Generation;

public sealed class GenerationTests(GenerationFixture fixture) : IClassFixture<GenerationFixture>
{
    // Prompts of different lengths whose GPT-2 ids are all below the counting models' vocabulary.
    private static readonly string[] Prompts =
        ["a", "a b", "one two", "the cat sat", "1 2 3 4", "x y z w v", "to be or not to be", "is it in on at and"];

    public static TheoryData<bool, bool, bool> Variants => new()
    {
        { false, true, true }, { true, true, true }, { false, false, true }, { true, false, true }, { false, true, false }, { true, true, false },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task Greedy_output_is_exactly_the_models_function(bool kvCache, bool attentionMask, bool positionIds)
    {
        var spec = TestModelFiles.Counting with { KvCache = kvCache, AttentionMask = attentionMask, PositionIds = positionIds };
        using var model = fixture.Create(spec);

        var result = await model.GenerateAsync(Greedy("the cat sat", 20), CancellationToken.None);

        Assert.Equal(fixture.ExpectedGreedy(spec, "the cat sat", 20), result.Text);
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(20, result.CompletionTokens);
        Assert.Equal(fixture.Encode("the cat sat").Count, result.PromptTokens);
    }

    [Fact]
    public async Task With_and_without_a_cache_give_the_same_text()
    {
        using var plain = fixture.Create(TestModelFiles.Counting);
        using var cached = fixture.Create(TestModelFiles.CountingWithCache);

        foreach (var prompt in Prompts)
        {
            var a = await plain.GenerateAsync(Greedy(prompt, 12), CancellationToken.None);
            var b = await cached.GenerateAsync(Greedy(prompt, 12), CancellationToken.None);
            Assert.Equal(a.Text, b.Text);
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task Concurrent_requests_of_different_lengths_batch_and_give_what_they_give_alone(bool kvCache, bool attentionMask, bool positionIds)
    {
        Assert.All(Prompts, p => Assert.All(fixture.Encode(p), id => Assert.InRange(id, 0, TestModelFiles.CountingVocabularySize - 1)));
        var spec = TestModelFiles.Counting with { KvCache = kvCache, AttentionMask = attentionMask, PositionIds = positionIds };
        using var model = fixture.Create(spec, maxBatchSize: 8, maxBatchDelay: TimeSpan.FromMilliseconds(500));
        using var batchSizes = new MetricRecorder(model.Descriptor.Id);

        // Different max_tokens too, so that sequences leave the batch while others go on.
        var results = await Task.WhenAll(Prompts.Select((p, i) => model.GenerateAsync(Greedy(p, 10 + (3 * i)), CancellationToken.None)));

        for (var i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(fixture.ExpectedGreedy(spec, Prompts[i], 10 + (3 * i)), results[i].Text);
        }

        Assert.Contains(batchSizes.BatchSizes, size => size > 1);
        Assert.All(batchSizes.BatchSizes, size => Assert.InRange(size, 1, 8));
        if (attentionMask && positionIds)
        {
            // With a mask and position ids the eight prompts are prefilled together; without, only equal lengths share a run.
            Assert.Contains(8, batchSizes.BatchSizes);
        }
    }

    [Fact]
    public async Task Requests_arriving_while_others_run_join_between_steps()
    {
        var spec = TestModelFiles.CountingWithCache;
        using var model = fixture.Create(spec, maxBatchSize: 4);
        using var batchSizes = new MetricRecorder(model.Descriptor.Id);
        var late = new ConcurrentQueue<(string Prompt, Task<GenerationResult> Result)>();
        var pieces = 0;

        // The first request starts one more after each of its first three pieces of text: they join a running batch.
        var first = await model.GenerateAsync(Greedy(Prompts[6], 120) with { OnText = _ => StartLate() }, CancellationToken.None);

        Assert.Equal(fixture.ExpectedGreedy(spec, Prompts[6], 120), first.Text);
        Assert.Equal(3, late.Count);
        foreach (var (prompt, result) in late)
        {
            Assert.Equal(fixture.ExpectedGreedy(spec, prompt, 60), (await result).Text);
        }

        Assert.Contains(batchSizes.BatchSizes, size => size > 1);

        void StartLate()
        {
            var index = Interlocked.Increment(ref pieces);
            if (index <= 3)
            {
                late.Enqueue((Prompts[index], model.GenerateAsync(Greedy(Prompts[index], 60), CancellationToken.None)));
            }
        }
    }

    [Fact]
    public async Task Canceling_one_sequence_leaves_its_neighbours_unchanged()
    {
        var spec = TestModelFiles.CountingWithCache;
        using var model = fixture.Create(spec, maxBatchSize: 8, maxBatchDelay: TimeSpan.FromMilliseconds(500));
        using var cancel = new CancellationTokenSource();
        var pieces = 0;

        var canceled = model.GenerateAsync(
            Greedy(Prompts[3], 200) with { OnText = _ => { if (Interlocked.Increment(ref pieces) == 5) { cancel.Cancel(); } } },
            cancel.Token);
        var others = Prompts.Where((_, i) => i != 3).Select(p => model.GenerateAsync(Greedy(p, 40), CancellationToken.None)).ToArray();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
        var results = await Task.WhenAll(others);
        var expected = Prompts.Where((_, i) => i != 3).Select(p => fixture.ExpectedGreedy(spec, p, 40));
        Assert.Equal(expected, results.Select(r => r.Text));
    }

    public static TheoryData<GenerationRequest> BadRequests => new()
    {
        new GenerationRequest { Prompt = "", MaxTokens = 5 },
        new GenerationRequest { Prompt = "hi", MaxTokens = 0 },
        new GenerationRequest { Prompt = "hi", MaxTokens = 257 },
        new GenerationRequest { Prompt = "hi", MaxTokens = 5, Temperature = 2.5f },
        new GenerationRequest { Prompt = "hi", MaxTokens = 5, Temperature = -0.1f },
        new GenerationRequest { Prompt = "hi", MaxTokens = 5, Temperature = float.NaN },
        new GenerationRequest { Prompt = "hi", MaxTokens = 5, TopP = 0f },
        new GenerationRequest { Prompt = "hi", MaxTokens = 5, TopP = 1.5f },
        new GenerationRequest { Prompt = "hi", MaxTokens = 5, Stop = ["a", "b", "c", "d", "e"] },
        new GenerationRequest { Prompt = "hi", MaxTokens = 5, Stop = ["a", ""] },
        new GenerationRequest { Prompt = string.Join(' ', Enumerable.Repeat("a", 300)), MaxTokens = 5 },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task A_bad_request_fails_alone(GenerationRequest bad)
    {
        var spec = TestModelFiles.CountingWithCache;
        using var model = fixture.Create(spec, maxBatchDelay: TimeSpan.FromMilliseconds(200));

        var good = Prompts.Take(3).Select(p => model.GenerateAsync(Greedy(p, 15), CancellationToken.None)).ToArray();
        await Assert.ThrowsAsync<ArgumentException>(() => model.GenerateAsync(bad, CancellationToken.None));

        var results = await Task.WhenAll(good);
        Assert.Equal(Prompts.Take(3).Select(p => fixture.ExpectedGreedy(spec, p, 15)), results.Select(r => r.Text));
    }

    [Fact]
    public async Task A_prompt_and_max_tokens_beyond_the_models_declared_length_are_rejected()
    {
        var spec = TestModelFiles.CountingWithCache with { MaxLength = 10 };
        using var model = fixture.Create(spec);
        var prompt = "1 2 3 4";
        var promptTokens = fixture.Encode(prompt).Count;

        await Assert.ThrowsAsync<ArgumentException>(() => model.GenerateAsync(Greedy(prompt, 11 - promptTokens), CancellationToken.None));
        var result = await model.GenerateAsync(Greedy(prompt, 10 - promptTokens), CancellationToken.None);

        Assert.Equal(10 - promptTokens, result.CompletionTokens);
    }

    [Fact]
    public async Task End_of_sequence_stops_and_counts_as_a_completion_token()
    {
        var spec = fixture.Saying("Once upon a", " time there lived");
        using var model = fixture.Create(spec, endOfSequence: TestDecoders.Gpt2EndOfText);
        var pieces = new List<string>();

        var result = await model.GenerateAsync(Greedy("Once upon a", 50) with { OnText = pieces.Add }, CancellationToken.None);

        Assert.Equal(" time there lived", result.Text);
        Assert.Equal(FinishReason.Stop, result.FinishReason);
        Assert.Equal(fixture.Encode(" time there lived").Count + 1, result.CompletionTokens);
        Assert.Equal(result.Text, string.Concat(pieces));
    }

    [Fact]
    public async Task Max_tokens_ends_with_length()
    {
        var spec = fixture.Saying("Once upon a", " time there lived");
        using var model = fixture.Create(spec, endOfSequence: TestDecoders.Gpt2EndOfText);

        var result = await model.GenerateAsync(Greedy("Once upon a", 2), CancellationToken.None);

        Assert.Equal(" time there", result.Text);
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(2, result.CompletionTokens);
    }

    [Theory]
    [InlineData("a gam", " alpha bet")] // across " beta" and " gamma"
    [InlineData("beta", " alpha ")] // inside one token
    [InlineData(" alpha", "")] // at once
    [InlineData("zzz", " alpha beta gamma delta")] // never
    public async Task A_stop_string_cuts_the_text_before_it_and_is_held_back_until_decided(string stop, string expected)
    {
        var spec = fixture.Saying("Greek letters:", " alpha beta gamma delta");
        using var model = fixture.Create(spec, endOfSequence: TestDecoders.Gpt2EndOfText);
        var pieces = new List<string>();

        var result = await model.GenerateAsync(
            Greedy("Greek letters:", 50) with { Stop = ["unused", stop], OnText = pieces.Add }, CancellationToken.None);

        Assert.Equal(expected, result.Text);
        Assert.Equal(FinishReason.Stop, result.FinishReason);
        // Held back, not taken back: the pieces never went past the text.
        Assert.Equal(expected, string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Length == 0);
    }

    [Fact]
    public async Task Text_is_streamed_as_it_is_generated()
    {
        var spec = fixture.Saying("Greek letters:", " alpha beta gamma delta");
        using var model = fixture.Create(spec, endOfSequence: TestDecoders.Gpt2EndOfText);
        var pieces = new List<string>();

        var result = await model.GenerateAsync(Greedy("Greek letters:", 50) with { OnText = pieces.Add }, CancellationToken.None);

        Assert.Equal([" alpha", " beta", " gamma", " delta"], pieces);
        Assert.Equal(result.Text, string.Concat(pieces));
    }

    [Theory]
    [InlineData("\U0001D11E")] // the G clef: four UTF-8 bytes, one token each in GPT-2
    [InlineData(" 中文")]
    [InlineData("☃ and ❄")]
    public async Task A_character_split_across_byte_tokens_is_emitted_whole(string continuation)
    {
        var ids = fixture.Encode(continuation);
        Assert.Contains(ids, id => fixture.Tokenizer.Decode([id]).Contains('\uFFFD', StringComparison.Ordinal));
        var spec = fixture.Saying("Music:", continuation);
        using var model = fixture.Create(spec, endOfSequence: TestDecoders.Gpt2EndOfText);
        var pieces = new List<string>();

        var result = await model.GenerateAsync(Greedy("Music:", 50) with { OnText = pieces.Add }, CancellationToken.None);

        Assert.Equal(continuation, result.Text);
        Assert.Equal(continuation, string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD', StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_null_character_is_returned_as_it_is()
    {
        var spec = fixture.Saying("Bytes:", "a\0b");
        using var model = fixture.Create(spec, endOfSequence: TestDecoders.Gpt2EndOfText);

        var result = await model.GenerateAsync(Greedy("Bytes:", 10), CancellationToken.None);

        Assert.Equal("a\0b", result.Text);
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_text_whatever_the_batch()
    {
        using var model = fixture.Create(TestModelFiles.Gpt2Spread, maxBatchDelay: TimeSpan.FromMilliseconds(300));
        var request = new GenerationRequest { Prompt = "The weather today", MaxTokens = 20, Temperature = 1f, Seed = 42 };

        var alone = await model.GenerateAsync(request, CancellationToken.None);
        var batched = await Task.WhenAll(
            model.GenerateAsync(request, CancellationToken.None),
            model.GenerateAsync(request with { Prompt = "Something else entirely" }, CancellationToken.None),
            model.GenerateAsync(request with { Seed = 7 }, CancellationToken.None));

        Assert.Equal(alone.Text, batched[0].Text);
        Assert.NotEqual(fixture.ExpectedGreedy(TestModelFiles.Gpt2Spread, "The weather today", 20), alone.Text);
    }

    [Fact]
    public async Task Different_seeds_give_different_texts()
    {
        using var model = fixture.Create(TestModelFiles.Gpt2Spread);
        var texts = new HashSet<string>();

        for (var seed = 0; seed < 4; seed++)
        {
            var request = new GenerationRequest { Prompt = "The weather today", MaxTokens = 12, Temperature = 1f, Seed = seed };
            texts.Add((await model.GenerateAsync(request, CancellationToken.None)).Text);
        }

        Assert.True(texts.Count >= 3, $"Only {texts.Count} different texts from 4 seeds.");
    }

    [Fact]
    public async Task No_seed_samples_differently()
    {
        using var model = fixture.Create(TestModelFiles.Gpt2Spread);
        var texts = new HashSet<string>();

        for (var i = 0; i < 4; i++)
        {
            var request = new GenerationRequest { Prompt = "The weather today", MaxTokens = 12, Temperature = 1f };
            texts.Add((await model.GenerateAsync(request, CancellationToken.None)).Text);
        }

        Assert.True(texts.Count >= 3, $"Only {texts.Count} different texts from 4 unseeded requests.");
    }

    [Theory]
    [InlineData(0f, 1f, null)]
    [InlineData(0f, 0.5f, 3L)]
    [InlineData(1f, 0.01f, 5L)]
    [InlineData(2f, 0.05f, null)]
    public async Task Temperature_zero_or_a_tiny_top_p_is_greedy(float temperature, float topP, long? seed)
    {
        var spec = TestModelFiles.Gpt2Spread;
        using var model = fixture.Create(spec);
        var request = new GenerationRequest { Prompt = "The weather today", MaxTokens = 15, Temperature = temperature, TopP = topP, Seed = seed };

        var result = await model.GenerateAsync(request, CancellationToken.None);

        Assert.Equal(fixture.ExpectedGreedy(spec, "The weather today", 15), result.Text);
    }

    [Fact]
    public async Task Disposing_during_a_run_fails_the_running_requests_without_crashing()
    {
        var spec = TestModelFiles.CountingWithCache with { ComputeWidth = 1024, ComputeDepth = 8 };
        using var model = fixture.Create(spec);

        // Disposed once the first step runs, with 255 more to go for each request. (The first piece of text is no such
        // signal: a piece is released only when final, which for these tokens can be the end.)
        var running = Prompts.Take(4).Select(p => model.GenerateAsync(Greedy(p, 256), CancellationToken.None)).ToArray();
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (model.RunsInProgress == 0 && !running.Any(r => r.IsCompleted) && deadline.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(1);
        model.Dispose();

        foreach (var request in running)
        {
            await Assert.ThrowsAsync<ObjectDisposedException>(() => request);
        }

        Assert.False(model.IsLoaded);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => model.GenerateAsync(Greedy("a", 1), CancellationToken.None));
    }

    [Fact]
    public async Task Warm_up_loads_the_model_and_counting_tokens_does_not()
    {
        using var model = fixture.Create(TestModelFiles.Gpt2, maxInputTokens: 3);

        var count = model.CountTokens(["hello world", "", "one two three four"]);
        Assert.False(model.IsLoaded);
        await model.WarmUpAsync(CancellationToken.None);

        Assert.True(model.IsLoaded);
        Assert.Equal([2, 0, 4], count.PerInput);
        Assert.Equal(6, count.Total);
        Assert.Equal([2], count.TooLong);
        Assert.Equal([1], count.Empty);
        Assert.Equal("hello world", model.DecodeTokens([.. fixture.Encode("hello world"), TestDecoders.Gpt2EndOfText]));
        Assert.Null(model.DecodeTokens([TestDecoders.Gpt2VocabularySize]));
    }

    [Fact]
    public async Task Tokens_and_durations_are_measured_per_model()
    {
        var spec = TestModelFiles.CountingWithCache;
        using var model = fixture.Create(spec, maxBatchDelay: TimeSpan.FromMilliseconds(300));
        using var metrics = new MetricRecorder(model.Descriptor.Id);

        var results = await Task.WhenAll(
            model.GenerateAsync(Greedy("a b", 7), CancellationToken.None),
            model.GenerateAsync(Greedy("one two three", 4), CancellationToken.None));

        var tokens = InferenceMetrics.TokensProcessed.Name;
        Assert.Equal(results.Sum(r => r.PromptTokens), metrics.Values(tokens, "prompt").Sum());
        Assert.Equal(11, metrics.Values(tokens, "completion").Sum());
        Assert.Equal(2, metrics.Values(InferenceMetrics.Duration.Name).Count());
        // One prefill of both, then decode steps: two sequences until the shorter one leaves, one after.
        Assert.Equal([2, 2, 2, 2, 1, 1, 1], metrics.BatchSizes);
    }

    [Fact]
    public async Task Started_at_is_when_the_first_run_began()
    {
        using var model = fixture.Create(TestModelFiles.CountingWithCache);
        var before = DateTimeOffset.UtcNow;

        var result = await model.GenerateAsync(Greedy("a b", 3), CancellationToken.None);

        Assert.InRange(result.StartedAt, before, DateTimeOffset.UtcNow);
    }

    private static GenerationRequest Greedy(string prompt, int maxTokens) =>
        new() { Prompt = prompt, MaxTokens = maxTokens, Temperature = 0f };
}
