using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Inference.Server.Api;

/// <summary>
/// Where a page of <c>GET /v1/inferences</c> ended: the last request's <c>created_at</c> (as UTC ticks, exactly as
/// stored) and id. Clients see it as an opaque base64url string: a version byte, the ticks, the id, and a check that
/// binds them to the tenant the page was read by. The check refuses a cursor that was altered, cut, or read by another
/// tenant; it is no secret, and need not be, since the cursor only says where to resume within the caller's own requests
/// (the tenant always comes from the API key).
/// </summary>
internal readonly record struct InferenceCursor(DateTimeOffset CreatedAt, Guid Id)
{
    private const byte Version = 1;
    private const int CheckLength = 8;
    private const int PayloadLength = 1 + sizeof(long) + 16;
    private const int ByteLength = PayloadLength + CheckLength;

    private static readonly SearchValues<char> Alphabet =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    /// <summary>The length of every cursor's text; anything longer or shorter is refused before it is decoded.</summary>
    public static readonly int TextLength = Base64Url.GetEncodedLength(ByteLength);

    public string Encode(string tenantId)
    {
        ArgumentNullException.ThrowIfNull(tenantId);
        Span<byte> bytes = stackalloc byte[ByteLength];
        bytes[0] = Version;
        BinaryPrimitives.WriteInt64BigEndian(bytes[1..], CreatedAt.UtcTicks);
        Id.TryWriteBytes(bytes[(1 + sizeof(long))..], bigEndian: true, out _);
        Check(bytes[..PayloadLength], tenantId, bytes[PayloadLength..]);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>The cursor <paramref name="text"/> holds, or null when it is not one this API gave <paramref name="tenantId"/>.</summary>
    public static InferenceCursor? Decode(string text, string tenantId)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(tenantId);

        // Only the exact length in base64url's alphabet, nothing for the decoder to skip or pad: one text per cursor, and
        // the decoder, which throws on what it cannot read, sees only what it can.
        if (text.Length != TextLength || text.AsSpan().ContainsAnyExcept(Alphabet))
            return null;

        Span<byte> bytes = stackalloc byte[ByteLength];
        if (Base64Url.DecodeFromChars(text, bytes) != ByteLength || bytes[0] != Version)
            return null;

        Span<byte> expected = stackalloc byte[CheckLength];
        Check(bytes[..PayloadLength], tenantId, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, bytes[PayloadLength..]))
            return null;

        var ticks = BinaryPrimitives.ReadInt64BigEndian(bytes[1..]);
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
            return null;

        return new InferenceCursor(new DateTimeOffset(ticks, TimeSpan.Zero), new Guid(bytes.Slice(1 + sizeof(long), 16), bigEndian: true));
    }

    private static void Check(ReadOnlySpan<byte> payload, string tenantId, Span<byte> destination)
    {
        var input = new byte[payload.Length + Encoding.UTF8.GetByteCount(tenantId)];
        payload.CopyTo(input);
        Encoding.UTF8.GetBytes(tenantId, input.AsSpan(payload.Length));
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, hash);
        hash[..CheckLength].CopyTo(destination);
    }
}
