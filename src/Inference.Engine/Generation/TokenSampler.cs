namespace Inference.Engine.Generation;

/// <summary>
/// Picks each next token of one sequence: the most likely one when the temperature is 0, otherwise a draw from the
/// temperature-scaled distribution cut to its nucleus (the most likely tokens whose probabilities add up to top_p).
/// Each sequence has its own generator, seeded from the request, so a seeded request gives the same tokens whichever
/// requests share its batch.
/// </summary>
internal sealed class TokenSampler
{
    private readonly float _temperature;
    private readonly float _topP;
    private ulong _state;
    private float[] _weights = [];
    private float[] _sortKeys = [];
    private int[] _order = [];

    public TokenSampler(float temperature, float topP, long? seed)
    {
        _temperature = temperature;
        _topP = topP;
        _state = seed is { } value ? unchecked((ulong)value) : unchecked((ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue));
    }

    public int Next(ReadOnlySpan<float> logits)
    {
        if (_temperature == 0f)
        {
            return ArgMax(logits);
        }

        if (_weights.Length != logits.Length)
        {
            _weights = new float[logits.Length];
        }

        // Softmax numerators, shifted by the largest logit so that exp never overflows.
        var max = logits[ArgMax(logits)];
        var total = 0d;
        for (var i = 0; i < logits.Length; i++)
        {
            var weight = MathF.Exp((logits[i] - max) / _temperature);
            _weights[i] = weight;
            total += weight;
        }

        return _topP >= 1f ? Draw(total) : DrawFromNucleus(total);
    }

    /// <summary>The first index of the largest value: ties go to the lower id, as in Hugging Face's argmax.</summary>
    internal static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }

    private int Draw(double total)
    {
        var target = NextDouble() * total;
        var cumulative = 0d;
        for (var i = 0; i < _weights.Length; i++)
        {
            cumulative += _weights[i];
            if (cumulative > target && _weights[i] > 0f)
            {
                return i;
            }
        }

        return ArgMax(_weights);
    }

    private int DrawFromNucleus(double total)
    {
        var count = _weights.Length;
        if (_order.Length != count)
        {
            _order = new int[count];
            _sortKeys = new float[count];
        }

        for (var i = 0; i < count; i++)
        {
            _order[i] = i;
            _sortKeys[i] = -_weights[i];
        }

        // Most likely first; the sort is deterministic for the same input, so seeded draws repeat.
        Array.Sort(_sortKeys, _order);
        var nucleusMass = _topP * total;
        var kept = 0;
        var keptMass = 0d;
        while (kept < count && (kept == 0 || keptMass < nucleusMass))
        {
            keptMass += _weights[_order[kept]];
            kept++;
        }

        var target = NextDouble() * keptMass;
        var cumulative = 0d;
        for (var i = 0; i < kept; i++)
        {
            cumulative += _weights[_order[i]];
            if (cumulative > target)
            {
                return _order[i];
            }
        }

        return _order[kept - 1];
    }

    /// <summary>SplitMix64: tiny, fast, and the same sequence for a seed on every platform and runtime version.</summary>
    private double NextDouble()
    {
        unchecked
        {
            _state += 0x9E3779B97F4A7C15UL;
            var z = _state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53));
        }
    }
}
