using System.Globalization;
using static Inference.TestModels.OnnxGraph;

namespace Inference.TestModels;

/// <summary>
/// Writes decoder-only ONNX models in the shape Hugging Face Optimum exports them (<c>input_ids</c>,
/// <c>attention_mask</c>, <c>position_ids</c>, <c>past_key_values.{i}.key/value</c> -> <c>logits</c>,
/// <c>present.{i}.key/value</c>), whose logits are computed arithmetically from the ids (see <see cref="DecoderSpec"/>),
/// so every file stays small whatever the vocabulary.
/// </summary>
public static class TestDecoders
{
    /// <summary>GPT-2's vocabulary: ids 0 to 50256.</summary>
    public const int Gpt2VocabularySize = 50257;

    /// <summary>GPT-2's <c>&lt;|endoftext|&gt;</c>, its end-of-sequence token.</summary>
    public const int Gpt2EndOfText = 50256;

    /// <summary>Writes the model <paramref name="spec"/> describes to <paramref name="path"/>.</summary>
    public static void Write(string path, DecoderSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        File.WriteAllBytes(path, Build(spec));
    }

    /// <summary>
    /// Writes a counting decoder: next = (last + 1 + sum of the ids so far + position) mod
    /// <paramref name="vocabularySize"/>, the same with and without a KV cache (with one, the sum comes from the cache).
    /// </summary>
    public static DecoderSpec WriteCounting(string path, int vocabularySize, bool withKvCache, bool withAttentionMask = true)
    {
        var spec = new DecoderSpec
        {
            VocabularySize = vocabularySize,
            KvCache = withKvCache,
            AttentionMask = withAttentionMask,
            HistoryWeight = 1,
        };
        Write(path, spec);
        return spec;
    }

    private static byte[] Build(DecoderSpec spec)
    {
        if (spec.VocabularySize < 2 || spec.Layers < 1 || spec.Heads < 1 || spec.HeadSize < 1 || spec.ComputeWidth < 0)
        {
            throw new ArgumentException("A test decoder needs a vocabulary of 2 or more and a positive cache shape.", nameof(spec));
        }

        var g = new OnnxGraph();
        const string Batch = "batch_size";
        const string Sequence = "sequence_length";
        const string Past = "past_sequence_length";
        var ids = g.Input("input_ids", Int64Type, Batch, Sequence);
        var mask = spec.AttentionMask ? g.Input("attention_mask", Int64Type, Batch, "past_sequence_length + sequence_length") : null;
        var positions = spec.PositionIds ? g.Input("position_ids", Int64Type, Batch, Sequence) : null;
        var pastKeys = new List<(string Key, string Value)>();
        if (spec.KvCache)
        {
            for (var layer = 0; layer < spec.Layers; layer++)
            {
                pastKeys.Add((
                    g.Input($"past_key_values.{layer}.key", FloatType, Batch, (long)spec.Heads, Past, (long)spec.HeadSize),
                    g.Input($"past_key_values.{layer}.value", FloatType, Batch, (long)spec.Heads, Past, (long)spec.HeadSize)));
            }
        }

        // The current tokens' part of the mask (its last sequence_length columns), and the past's (the rest).
        var length = g.Node("Shape", [ids], null, new Attr("start", Int: 1), new Attr("end", Int: 2));
        var minusLength = g.Node("Neg", [length]);
        string currentMask;
        string? pastMask = null;
        if (mask is not null)
        {
            currentMask = g.Node("Slice", [mask, minusLength, g.Int64s(long.MaxValue), g.Int64s(1)]);
            pastMask = g.Node("Slice", [mask, g.Int64s(0), minusLength, g.Int64s(1)]);
        }
        else
        {
            currentMask = g.Node("ConstantOfShape", [g.Node("Shape", [ids])], null,
                new Attr("value", Tensor: Tensor(null, Int64Type, [1], BitConverter.GetBytes(1L))));
        }

        var maskedIds = g.Node("Mul", [ids, currentMask]);
        var sums = g.Node("CumSum", [maskedIds, g.Int64Scalar(1)]);
        if (spec.KvCache)
        {
            // Layer 0's keys hold each earlier token's id: their masked sum continues the running sum.
            var keys = g.Node("Slice", [pastKeys[0].Key, g.Int64s(0, 0), g.Int64s(1, 1), g.Int64s(1, 3)]);
            var pastIds = g.Node("Cast", [g.Node("Squeeze", [keys, g.Int64s(1, 3)])], null, new Attr("to", Int: Int64Type));
            if (pastMask is not null)
            {
                pastIds = g.Node("Mul", [pastIds, pastMask]);
            }

            // A zero column first, so that the sum over an empty past is 0 whatever the runtime does with empty reductions.
            var zeros = g.Node("Mul", [g.Node("Slice", [ids, g.Int64s(0), g.Int64s(1), g.Int64s(1)]), g.Int64Scalar(0)]);
            var padded = g.Node("Concat", [zeros, pastIds], null, new Attr("axis", Int: 1));
            var pastSum = g.Node("ReduceSum", [padded, g.Int64s(1)], null, new Attr("keepdims", Int: 1));
            sums = g.Node("Add", [sums, pastSum]);
        }

        var history = positions is null ? sums : g.Node("Add", [sums, positions]);
        var next = g.Node("Add", [ids, g.Int64Scalar(1)]);
        if (spec.Successors.Count > 0)
        {
            var from = spec.Successors.Keys.Select(k => (long)k).ToArray();
            var to = spec.Successors.Keys.Select(k => (long)spec.Successors[k]).ToArray();
            var hits = g.Node("Cast", [g.Node("Equal", [g.Node("Unsqueeze", [ids, g.Int64s(-1)]), g.Int64s(from)])], null,
                new Attr("to", Int: Int64Type));
            var corrections = g.Node("Sub", [g.Int64s(to), g.Node("Unsqueeze", [next, g.Int64s(-1)])]);
            next = g.Node("Add", [next, g.Node("ReduceSum", [g.Node("Mul", [hits, corrections]), g.Int64s(-1)], null,
                new Attr("keepdims", Int: 0))]);
        }

        if (spec.HistoryWeight != 0)
        {
            next = g.Node("Add", [next, g.Node("Mul", [history, g.Int64Scalar(spec.HistoryWeight)])]);
        }

        var vocabulary = g.Int64Scalar(spec.VocabularySize);
        next = g.Node("Mod", [next, vocabulary]);
        var tokens = g.Node("Range", [g.Int64Scalar(0), vocabulary, g.Int64Scalar(1)]);
        var distance = g.Node("Mod", [g.Node("Sub", [tokens, g.Node("Unsqueeze", [next, g.Int64s(-1)])]), vocabulary]);
        var logits = g.Node("Mul", [g.Node("Cast", [distance], null, new Attr("to", Int: FloatType)), g.FloatScalar(-spec.Sharpness)]);
        if (spec.ComputeWidth > 0)
        {
            logits = g.Node("Add", [logits, Compute(g, spec, maskedIds)]);
        }

        g.Node("Identity", [logits], "logits");
        g.Output("logits", FloatType, Batch, Sequence, (long)spec.VocabularySize);

        if (spec.KvCache)
        {
            // Every head and position of the new entries holds the token's id (0 for padding).
            var entries = g.Node("Expand", [
                g.Node("Unsqueeze", [g.Node("Cast", [maskedIds], null, new Attr("to", Int: FloatType)), g.Int64s(1, 3)]),
                g.Int64s(1, spec.Heads, 1, spec.HeadSize)]);
            for (var layer = 0; layer < spec.Layers; layer++)
            {
                foreach (var (kind, past) in new[] { ("key", pastKeys[layer].Key), ("value", pastKeys[layer].Value) })
                {
                    var name = $"present.{layer}.{kind}";
                    g.Node("Concat", [past, entries], name, new Attr("axis", Int: 2));
                    g.Output(name, FloatType, Batch, (long)spec.Heads, "past_sequence_length + sequence_length", (long)spec.HeadSize);
                }
            }
        }

        var metadata = new Dictionary<string, string>();
        if (spec.MaxLength is { } maxLength)
        {
            metadata["max_position_embeddings"] = maxLength.ToString(CultureInfo.InvariantCulture);
        }

        return g.ToModel(metadata);
    }

    /// <summary>
    /// A chain of [width x width] MatMuls on every token, folded into the logits as an exact zero: floor(sigmoid(x) / 2)
    /// is 0 for any finite x, and no optimiser can prove it.
    /// </summary>
    private static string Compute(OnnxGraph g, DecoderSpec spec, string maskedIds)
    {
        var width = spec.ComputeWidth;
        var x = g.Node("Expand", [
            g.Node("Cast", [g.Node("Unsqueeze", [maskedIds, g.Int64s(-1)])], null, new Attr("to", Int: FloatType)),
            g.Int64s(1, 1, width)]);
        var weights = g.Node("ConstantOfShape", [g.Int64s(width, width)], null,
            new Attr("value", Tensor: Tensor(null, FloatType, [1], BitConverter.GetBytes(1f / width))));
        for (var i = 0; i < Math.Max(1, spec.ComputeDepth); i++)
        {
            x = g.Node("Tanh", [g.Node("MatMul", [x, weights])]);
        }

        var top = g.Node("ReduceMax", [x], null, new Attr("axes", Ints: [-1]), new Attr("keepdims", Int: 1));
        return g.Node("Floor", [g.Node("Mul", [g.Node("Sigmoid", [top]), g.FloatScalar(0.5f)])]);
    }
}
