using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Inference.Engine.Generation;
using Inference.TestModels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Tests.Generation;

/// <summary>The test decoders written once per test class, GPT-2's tokenizer, and models built on them.</summary>
public sealed class GenerationFixture : IDisposable
{
    private static int _models;

    public GenerationFixture() => Tokenizer = TiktokenTokenizer.CreateForModel("gpt2");

    public TestModelFiles Files { get; } = new();

    public Tokenizer Tokenizer { get; }

    /// <summary>A model of <paramref name="spec"/> under a fresh id, so that metrics can be told apart.</summary>
    internal DecoderGenerationModel Create(
        DecoderSpec spec,
        int maxBatchSize = 8,
        TimeSpan maxBatchDelay = default,
        int? endOfSequence = null,
        int maxInputTokens = 256,
        int maxOutputTokens = 256)
    {
        var id = $"test-decoder-{Interlocked.Increment(ref _models)}";
        var path = Files.Write(id, spec);
        var descriptor = new ModelDescriptor(id, ModelKind.TextGeneration, maxInputTokens, null, maxBatchSize)
        {
            Published = DateTimeOffset.UnixEpoch,
            Publisher = "tests",
            Device = "cpu",
            MaxOutputTokens = maxOutputTokens,
            MaxBatchDelay = maxBatchDelay,
        };
        return new DecoderGenerationModel(descriptor, Tokenizer, endOfSequence, () => new InferenceSession(path), NullLogger.Instance);
    }

    public IReadOnlyList<int> Encode(string text) => Tokenizer.EncodeToIds(text);

    /// <summary>The text greedy decoding gives for <paramref name="prompt"/>, from the spec's own arithmetic.</summary>
    public string ExpectedGreedy(DecoderSpec spec, string prompt, int tokens) =>
        Tokenizer.Decode(spec.Greedy(Encode(prompt), tokens));

    /// <summary>
    /// The GPT-2 decoder that, after <paramref name="prompt"/>, says <paramref name="continuation"/> token by token and
    /// then the end of sequence (each token's successor listed; the tokens must be distinct).
    /// </summary>
    public DecoderSpec Saying(string prompt, string continuation)
    {
        var chain = new List<int> { Encode(prompt)[^1] };
        chain.AddRange(Encode(continuation));
        chain.Add(TestDecoders.Gpt2EndOfText);
        Assert.Equal(chain.Count, chain.Distinct().Count());
        var successors = new Dictionary<int, int>();
        for (var i = 0; i + 1 < chain.Count; i++)
        {
            successors[chain[i]] = chain[i + 1];
        }

        return TestModelFiles.Gpt2 with { Successors = successors };
    }

    public void Dispose() => Files.Dispose();
}

/// <summary>Records the engine's batch sizes for one model.</summary>
internal sealed class BatchSizeRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly string _modelId;

    public BatchSizeRecorder(string modelId)
    {
        _modelId = modelId;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == InferenceMetrics.MeterName && instrument.Name == InferenceMetrics.BatchSize.Name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "model" && Equals(tag.Value, _modelId))
                {
                    Sizes.Add(value);
                }
            }
        });
        _listener.Start();
    }

    public ConcurrentBag<int> Sizes { get; } = [];

    public void Dispose() => _listener.Dispose();
}
