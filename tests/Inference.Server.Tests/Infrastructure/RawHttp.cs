using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;

namespace Inference.Server.Tests.Infrastructure;

/// <summary>
/// HTTP/1.1 written by hand over a socket, for what no HttpClient sends: malformed framing, a body that stops, a
/// Content-Length whose body never follows.
/// </summary>
internal static class RawHttp
{
    /// <summary>
    /// Sends <paramref name="head"/> (request line and headers, without the blank line; <c>Connection: close</c> is added)
    /// and then <paramref name="body"/>, and reads one response. It reads only as far as the response's own framing
    /// says, since a server that answers before it has read the body may reset the connection after the answer.
    /// </summary>
    public static async Task<HttpResponseMessage> SendAsync(Uri server, string head, byte[] body, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        using var socket = new TcpClient();
        await socket.ConnectAsync(server.Host, server.Port, cancel.Token);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{head}\r\nHost: {server.Authority}\r\nConnection: close\r\n\r\n"), cancel.Token);
        await stream.WriteAsync(body, cancel.Token);

        var received = new List<byte>();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cancel.Token);
            Assert.True(read > 0, $"The connection closed before a whole response: '{Encoding.UTF8.GetString([.. received])}'");
            received.AddRange(buffer.AsSpan(0, read));
            if (TryParse([.. received]) is { } response)
                return response;
        }
    }

    /// <returns>The response, or null while it is incomplete.</returns>
    private static HttpResponseMessage? TryParse(byte[] raw)
    {
        var headEnd = raw.AsSpan().IndexOf("\r\n\r\n"u8);
        if (headEnd < 0)
            return null;

        var lines = Encoding.ASCII.GetString(raw, 0, headEnd).Split("\r\n");
        var headers = lines.Skip(1).Select(line => line.Split(':', 2))
            .ToDictionary(header => header[0].Trim(), header => header[1].Trim(), StringComparer.OrdinalIgnoreCase);
        var body = raw[(headEnd + 4)..];
        if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Equals("chunked", StringComparison.OrdinalIgnoreCase))
        {
            if (!body.AsSpan().EndsWith("0\r\n\r\n"u8))
                return null;
            body = Dechunk(body);
        }
        else if (headers.TryGetValue("Content-Length", out var length) && body.Length < int.Parse(length, CultureInfo.InvariantCulture))
        {
            return null;
        }

        var response = new HttpResponseMessage((HttpStatusCode)int.Parse(lines[0].Split(' ')[1], CultureInfo.InvariantCulture))
        {
            Content = new ByteArrayContent(body),
        };
        if (headers.TryGetValue("Content-Type", out var type))
            response.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        return response;
    }

    private static byte[] Dechunk(ReadOnlySpan<byte> chunked)
    {
        var body = new List<byte>();
        while (true)
        {
            var sizeEnd = chunked.IndexOf("\r\n"u8);
            var size = int.Parse(chunked[..sizeEnd], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            if (size == 0)
                return [.. body];
            body.AddRange(chunked.Slice(sizeEnd + 2, size));
            chunked = chunked[(sizeEnd + 2 + size + 2)..];
        }
    }
}
