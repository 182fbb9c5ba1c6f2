namespace Inference.TestModels;

/// <summary>
/// What a test decoder computes. For the sequence <c>x_0 … x_t</c> (padding excluded) the most likely next token is
/// <c>(succ(x_t) + HistoryWeight * (x_0 + … + x_t + t)) mod VocabularySize</c>, where <c>succ(x)</c> is
/// <see cref="Successors"/>[x] when listed and <c>x + 1</c> otherwise (the <c>+ t</c> only when the model takes
/// <c>position_ids</c>); see <see cref="NextToken"/>. Token <c>k</c> gets the logit
/// <c>-Sharpness * ((k - next) mod VocabularySize)</c>: a high sharpness makes sampling all but greedy, a low one spreads
/// the probability over the tokens just after <c>next</c>.
/// </summary>
/// <remarks>
/// With a KV cache the sum over the earlier tokens is read from the cache (<c>past_key_values.0.key</c> holds each
/// token's id), masked by <c>attention_mask</c>, so a dropped, misaligned or mixed-up cache changes the output, and left
/// padding does not. With <see cref="HistoryWeight"/> 0 the output depends on the last token only (the counting model).
/// </remarks>
public sealed record DecoderSpec
{
    /// <summary>Tokens in the vocabulary: the logits' last dimension.</summary>
    public required int VocabularySize { get; init; }

    /// <summary>Whether the model takes and returns a KV cache (Optimum's <c>past_key_values.{i}.key</c>/<c>present.{i}.key</c>).</summary>
    public bool KvCache { get; init; }

    /// <summary>Whether the model takes <c>attention_mask</c> (of length past + sequence).</summary>
    public bool AttentionMask { get; init; } = true;

    /// <summary>Whether the model takes <c>position_ids</c> (and adds them in the history term).</summary>
    public bool PositionIds { get; init; } = true;

    /// <summary>Layers of the KV cache (only layer 0 feeds the output; the others are carried through).</summary>
    public int Layers { get; init; } = 2;

    /// <summary>Heads per layer of the KV cache.</summary>
    public int Heads { get; init; } = 2;

    /// <summary>Width of each head of the KV cache.</summary>
    public int HeadSize { get; init; } = 2;

    /// <summary>How much the sum of the sequence so far (and its positions) moves the next token; 0: counting only.</summary>
    public long HistoryWeight { get; init; }

    /// <summary>The logit step between successive candidates; high: one likely token, low: a spread distribution.</summary>
    public float Sharpness { get; init; } = 30f;

    /// <summary>Exceptions to <c>succ(x) = x + 1</c>, to make the model say a chosen token sequence.</summary>
    public IReadOnlyDictionary<int, int> Successors { get; init; } = new Dictionary<int, int>();

    /// <summary>
    /// Width of a square MatMul chain run on every token (0: none), so that a step costs real compute; it never changes
    /// the output.
    /// </summary>
    public int ComputeWidth { get; init; }

    /// <summary>MatMuls in that chain.</summary>
    public int ComputeDepth { get; init; } = 1;

    /// <summary>A fixed longest sequence, declared as the metadata entry <c>max_position_embeddings</c>; null: none.</summary>
    public int? MaxLength { get; init; }

    /// <summary>The greedy (most likely) next token after <paramref name="sequence"/>, as the model computes it.</summary>
    public int NextToken(IReadOnlyList<int> sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.Count == 0)
        {
            throw new ArgumentException("A sequence has at least one token.", nameof(sequence));
        }

        long sum = 0;
        foreach (var id in sequence)
        {
            sum += id;
        }

        var last = sequence[^1];
        long successor = Successors.TryGetValue(last, out var listed) ? listed : last + 1L;
        var history = PositionIds ? sum + sequence.Count - 1 : sum;
        var next = (successor + HistoryWeight * history) % VocabularySize;
        return (int)(next < 0 ? next + VocabularySize : next);
    }

    /// <summary>The <paramref name="count"/> tokens greedy decoding adds to <paramref name="prompt"/>.</summary>
    public IReadOnlyList<int> Greedy(IReadOnlyList<int> prompt, int count)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var sequence = new List<int>(prompt);
        for (var i = 0; i < count; i++)
        {
            sequence.Add(NextToken(sequence));
        }

        return sequence.GetRange(prompt.Count, count);
    }
}
