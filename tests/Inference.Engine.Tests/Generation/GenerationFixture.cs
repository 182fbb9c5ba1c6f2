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
        return new DecoderGenerationModel(descriptor, Tokenizer, endOfSequence, () => CreateSession(path), NullLogger.Instance);
    }

    /// <summary>A session as the engine's factory makes them: no spinning threads, which only fight on a busy machine.</summary>
    private static InferenceSession CreateSession(string path)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2, InterOpNumThreads = 1 };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return new InferenceSession(path, options);
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

/// <summary>Records the engine's measurements for one model.</summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly string _modelId;

    public MetricRecorder(string modelId)
    {
        _modelId = modelId;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == InferenceMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    public ConcurrentQueue<(string Instrument, double Value, string? Type)> Measurements { get; } = [];

    /// <summary>The values of <c>inference_batch_size</c>.</summary>
    public IReadOnlyList<int> BatchSizes => Values(InferenceMetrics.BatchSize.Name).Select(v => (int)v).ToList();

    public IEnumerable<double> Values(string instrument, string? type = null) =>
        Measurements.Where(m => m.Instrument == instrument && (type is null || m.Type == type)).Select(m => m.Value);

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? model = null;
        string? type = null;
        foreach (var tag in tags)
        {
            if (tag.Key == "model")
            {
                model = tag.Value as string;
            }
            else if (tag.Key == "type")
            {
                type = tag.Value as string;
            }
        }

        if (model == _modelId)
        {
            Measurements.Enqueue((instrument.Name, value, type));
        }
    }
}
