using Inference.TestModels;
using Microsoft.ML.OnnxRuntime;

namespace Inference.Engine.Tests.Generation;

/// <summary>The test decoders compute what their <see cref="DecoderSpec"/> says, run directly through ONNX Runtime.</summary>
public sealed class TestDecoderTests : IDisposable
{
    private readonly TestModelFiles _files = new();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Greedy_token_of_every_position_is_the_specs_next_token(bool kvCache)
    {
        var spec = kvCache ? TestModelFiles.CountingWithCache : TestModelFiles.Counting;
        using var session = new InferenceSession(_files.Write(kvCache ? "kv" : "plain", spec));
        long[] ids = [5, 17, 3, 900];
        var inputs = new Dictionary<string, OrtValue>
        {
            ["input_ids"] = OrtValue.CreateTensorValueFromMemory(ids, [1, 4]),
            ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(new long[] { 1, 1, 1, 1 }, [1, 4]),
            ["position_ids"] = OrtValue.CreateTensorValueFromMemory(new long[] { 0, 1, 2, 3 }, [1, 4]),
        };
        if (kvCache)
        {
            for (var layer = 0; layer < spec.Layers; layer++)
            {
                inputs[$"past_key_values.{layer}.key"] = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, spec.Heads, 0, spec.HeadSize]);
                inputs[$"past_key_values.{layer}.value"] = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, spec.Heads, 0, spec.HeadSize]);
            }
        }

        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, inputs, session.OutputNames);
        var logits = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        for (var position = 0; position < ids.Length; position++)
        {
            var row = logits.AsSpan(position * spec.VocabularySize, spec.VocabularySize);
            var argmax = row.IndexOf(System.Linq.Enumerable.Max(row.ToArray()));
            Assert.Equal(spec.NextToken(ids.Take(position + 1).Select(i => (int)i).ToArray()), argmax);
        }

        if (kvCache)
        {
            Assert.Equal(new long[] { 1, spec.Heads, 4, spec.HeadSize }, outputs[1].GetTensorTypeAndShape().Shape);
        }

        foreach (var value in inputs.Values)
        {
            value.Dispose();
        }
    }

    [Fact]
    public void The_cached_model_reads_the_earlier_tokens_from_its_cache_only()
    {
        var spec = TestModelFiles.CountingWithCache;
        using var session = new InferenceSession(_files.Write("kv-drop", spec));

        // The last token alone, at position 3, with an empty cache: the model cannot know the three before it.
        var withoutCache = NextWithEmptyCache(session, spec, 900, position: 3);

        Assert.NotEqual(spec.NextToken([5, 17, 3, 900]), withoutCache);
        Assert.Equal((900 + 1 + 900 + 3) % spec.VocabularySize, withoutCache);
    }

    private static int NextWithEmptyCache(InferenceSession session, DecoderSpec spec, long token, long position)
    {
        var inputs = new Dictionary<string, OrtValue>
        {
            ["input_ids"] = OrtValue.CreateTensorValueFromMemory(new[] { token }, [1, 1]),
            ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(new long[] { 1 }, [1, 1]),
            ["position_ids"] = OrtValue.CreateTensorValueFromMemory(new[] { position }, [1, 1]),
        };
        for (var layer = 0; layer < spec.Layers; layer++)
        {
            inputs[$"past_key_values.{layer}.key"] = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, spec.Heads, 0, spec.HeadSize]);
            inputs[$"past_key_values.{layer}.value"] = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, spec.Heads, 0, spec.HeadSize]);
        }

        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, inputs, session.OutputNames);
        var next = Inference.Engine.Generation.TokenSampler.ArgMax(outputs[0].GetTensorDataAsSpan<float>());
        foreach (var value in inputs.Values)
        {
            value.Dispose();
        }

        return next;
    }

    public void Dispose() => _files.Dispose();
}
