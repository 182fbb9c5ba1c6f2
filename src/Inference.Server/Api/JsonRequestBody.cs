using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Inference.Orchestration;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace Inference.Server.Api;

/// <summary>
/// Reads a JSON request body as this API promises: JSON media type, UTF-8 only, and never more than a set number of
/// bytes in memory. Every way a body can be wrong is answered with a problem, not an exception.
/// </summary>
internal static class JsonRequestBody
{
    private const int InitialBytes = 16 * 1024;

    /// <returns>The body, or the problem to answer instead (and then no value).</returns>
    public static async Task<(T? Value, ProblemHttpResult? Problem)> ReadAsync<T>(
        HttpRequest http, int maxBytes, JsonSerializerOptions json, CancellationToken cancellationToken)
        where T : class
    {
        if (!http.HasJsonContentType())
            return (null, Problems.UnsupportedMediaType());
        if (RefusedCharset(http) is { } charset)
            return (null, Problems.UnsupportedCharset(charset));
        if (http.ContentLength > maxBytes)
            return (null, Problems.PayloadTooLarge(maxBytes));

        // Kestrel applies its own limit (30,000,000 bytes unless configured) to every body; this one replaces it, so that
        // a configured limit above it holds, and a chunked body is cut off by the server while it arrives.
        if (http.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } serverLimit)
            serverLimit.MaxRequestBodySize = maxBytes;

        if (await ReadAtMostAsync(http.Body, http.ContentLength, maxBytes, cancellationToken).ConfigureAwait(false) is not { } body)
            return (null, Problems.PayloadTooLarge(maxBytes));

        // A byte order mark is allowed, and the serializer reads only what follows it.
        var skipped = body.Span.StartsWith(Encoding.UTF8.Preamble) ? Encoding.UTF8.Preamble.Length : 0;
        var bytes = body.Span[skipped..];

        // The JSON reader does not check the bytes of strings it is not asked for, and fails on those it is with an
        // exception that is not a JsonException; checked up front, every body is either UTF-8 or refused as such.
        if (!Utf8.IsValid(bytes))
            return (null, Problems.InvalidUtf8(skipped + FirstInvalidByte(bytes)));

        try
        {
            return (JsonSerializer.Deserialize<T>(bytes, json), null);
        }
        catch (JsonException exception)
        {
            // The serializer's own message names .NET types; the position is what a client can act on.
            return (null, Problems.InvalidJson(
                $"Malformed JSON, or a value of the wrong type, at {InputText.Printable(exception.Path ?? "$")} " +
                $"(line {(exception.LineNumber ?? 0) + 1}, byte {exception.BytePositionInLine ?? 0})."));
        }
    }

    /// <returns>The charset named in Content-Type when it is not UTF-8; null when it is, or when none is named.</returns>
    private static string? RefusedCharset(HttpRequest http)
    {
        if (!MediaTypeHeaderValue.TryParse(http.ContentType, out var mediaType) || !mediaType.Charset.HasValue)
            return null;

        var charset = HeaderUtilities.RemoveQuotes(mediaType.Charset);
        return charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) ? null : charset.ToString();
    }

    /// <returns>The whole body, or null once it has proved longer than <paramref name="maxBytes"/>.</returns>
    private static async Task<ReadOnlyMemory<byte>?> ReadAtMostAsync(Stream body, long? contentLength, int maxBytes,
        CancellationToken cancellationToken)
    {
        // Room for one byte past the limit is what it takes to tell that a body is too large. Sized from Content-Length
        // when there is one, so that a body of a known size is read into one array without copies.
        var buffer = new byte[(int)Math.Min((contentLength ?? InitialBytes) + 1, maxBytes + 1L)];
        var filled = 0;
        while (true)
        {
            if (filled == buffer.Length)
            {
                if (filled > maxBytes)
                    return null;
                Array.Resize(ref buffer, (int)Math.Min(buffer.Length * 2L, maxBytes + 1L));
            }

            var read = await body.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
                return buffer.AsMemory(0, filled);
            filled += read;
        }
    }

    private static int FirstInvalidByte(ReadOnlySpan<byte> bytes)
    {
        var offset = 0;
        while (Rune.DecodeFromUtf8(bytes[offset..], out _, out var consumed) == OperationStatus.Done)
            offset += consumed;
        return offset;
    }
}
