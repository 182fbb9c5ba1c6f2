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

    public void Dispose() => _files.Dispose();
}
