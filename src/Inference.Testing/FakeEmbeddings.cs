using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Inference.Testing;

/// <summary>
/// Embeddings that look like a sentence model's and cost nothing: each input's vector is drawn from a SHA-256 hash of
/// its text, so the same text always gets the same vector (on every machine and run), different texts get different
/// ones, and every vector has length 1 (L2-normalised), as the platform's embeddings do.
/// </summary>
/// <remarks>They carry no meaning: paraphrases are not closer than unrelated texts.</remarks>
public static class FakeEmbeddings
{
    /// <summary>The dimension of the platform's default model, all-MiniLM-L6-v2.</summary>
    public const int DefaultDimensions = 384;

    /// <summary>The fake embedding of <paramref name="input"/>: <paramref name="dimensions"/> floats of unit length.</summary>
    public static float[] For(string input, int dimensions = DefaultDimensions)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);

        var text = Encoding.UTF8.GetBytes(input);
        var block = new byte[text.Length + sizeof(int)];
        text.CopyTo(block, 0);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var vector = new float[dimensions];
        const int PerBlock = SHA256.HashSizeInBytes / sizeof(ushort);
        for (var start = 0; start < dimensions; start += PerBlock)
        {
            BinaryPrimitives.WriteInt32LittleEndian(block.AsSpan(text.Length), start / PerBlock);
            SHA256.HashData(block, hash);
            for (var i = 0; i < PerBlock && start + i < dimensions; i++)
                vector[start + i] = (BinaryPrimitives.ReadUInt16LittleEndian(hash[(i * sizeof(ushort))..]) / 32767.5f) - 1f;
        }

        var length = MathF.Sqrt(vector.Sum(x => x * x));
        if (length > 0)
        {
            for (var i = 0; i < vector.Length; i++)
                vector[i] /= length;
        }

        return vector;
    }
}
