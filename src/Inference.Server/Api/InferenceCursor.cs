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
        if (text.Length != TextLength)
            return null;

        Span<byte> bytes = stackalloc byte[ByteLength];
        if (!Base64Url.TryDecodeFromChars(text, bytes, out var written) || written != ByteLength || bytes[0] != Version)
            return null;

        // One text per cursor: the decoder skips white space and ignores the last character's spare bits, so a variant
        // spelling of a valid cursor would otherwise pass.
        if (!string.Equals(Base64Url.EncodeToString(bytes), text, StringComparison.Ordinal))
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
