using Microsoft.ML.OnnxRuntime;

namespace Inference.Engine.Generation;

/// <summary>
/// Sequences that go through the model together, one row each, and their shared KV cache: per cache input a tensor
/// [rows, heads, past, head size], each row left-padded to the longest, with the mask [rows, past] that says which
/// positions are real. Owned by the scheduler's loop only.
/// </summary>
internal sealed class Cohort : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    public Cohort(List<DecoderGenerationModel.Sequence> rows) => Rows = rows;

    public List<DecoderGenerationModel.Sequence> Rows { get; }

    /// <summary>The cache, one value per <see cref="DecoderLayout.PastNames"/>; null while it is empty.</summary>
    public OrtValue[]? Past { get; private set; }

    /// <summary>Positions in the cache, padding included.</summary>
    public int PastLength { get; private set; }

    /// <summary>[rows, <see cref="PastLength"/>]: 1 where the cache holds a real token, 0 for padding.</summary>
    public long[] Mask { get; private set; } = [];

    /// <summary>Takes over the cache a run returned (its outputs after the logits), disposing the previous one.</summary>
    public void ReplacePast(IDisposable owner, OrtValue[] past, int pastLength, long[] mask)
    {
        DisposeOwned();
        _owned.Add(owner);
        Past = past;
        PastLength = pastLength;
        Mask = mask;
    }

    /// <summary>
    /// A cohort of the given rows of existing cohorts (to drop finished rows, or to merge cohorts): each row's real
    /// positions are copied right-aligned into a cache as long as the longest of them, so padding that no row needs any
    /// more disappears. Rows must come from cohorts whose caches have the shape of <paramref name="layout"/>.
    /// </summary>
    public static Cohort Gather(IReadOnlyList<(Cohort Source, int Row)> rows, DecoderLayout layout)
    {
        var cohort = new Cohort(rows.Select(r => r.Source.Rows[r.Row]).ToList());
        var lengths = new int[rows.Count];
        var length = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var (source, row) = rows[i];
            var mask = source.Mask.AsSpan(row * source.PastLength, source.PastLength);
            var padding = mask.IndexOfAnyExcept(0L);
            lengths[i] = padding < 0 ? 0 : source.PastLength - padding;
            length = Math.Max(length, lengths[i]);
        }

        cohort.PastLength = length;
        cohort.Mask = new long[rows.Count * length];
        for (var i = 0; i < rows.Count; i++)
        {
            var (source, row) = rows[i];
            source.Mask.AsSpan(((row + 1) * source.PastLength) - lengths[i], lengths[i])
                .CopyTo(cohort.Mask.AsSpan(((i + 1) * length) - lengths[i]));
        }

        if (length == 0)
        {
            return cohort;
        }

        var (heads, headSize) = (layout.Heads, layout.HeadSize);
        var past = new OrtValue[layout.PastNames.Length];
        for (var input = 0; input < past.Length; input++)
        {
            var data = new float[rows.Count * heads * length * headSize];
            for (var i = 0; i < rows.Count; i++)
            {
                var (source, row) = rows[i];
                var from = source.Past![input].GetTensorDataAsSpan<float>();
                for (var head = 0; head < heads; head++)
                {
                    var sourceStart = ((((row * heads) + head) * source.PastLength) + source.PastLength - lengths[i]) * headSize;
                    var targetStart = ((((i * heads) + head) * length) + length - lengths[i]) * headSize;
                    from.Slice(sourceStart, lengths[i] * headSize).CopyTo(data.AsSpan(targetStart));
                }
            }

            past[input] = OrtValue.CreateTensorValueFromMemory(data, [rows.Count, heads, length, headSize]);
            cohort._owned.Add(past[input]);
        }

        cohort.Past = past;
        return cohort;
    }

    public void Dispose() => DisposeOwned();

    private void DisposeOwned()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        _owned.Clear();
        Past = null;
    }
}
