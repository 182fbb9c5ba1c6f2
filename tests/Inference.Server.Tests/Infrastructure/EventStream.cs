using System.Net;
using System.Text;
using System.Text.Json;

namespace Inference.Server.Tests.Infrastructure;

/// <summary>
/// A client of <c>GET /v1/inferences/{id}/events</c> that reads the stream as the SSE specification says a client does
/// (fields up to a blank line; comment lines start with a colon), so that the specs hold the wire format to it.
/// </summary>
internal sealed class EventStream : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private EventStream(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body, Encoding.UTF8);
    }

    public HttpResponseMessage Response => _response;

    /// <summary>Opens the stream; the response is returned as it is when it is not a 200 (a problem to assert).</summary>
    public static async Task<(EventStream? Stream, HttpResponseMessage Response)> OpenAsync(HttpClient client, string id,
        string? lastEventId = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/inferences/{id}/events");
        if (lastEventId is not null)
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
            return (null, response);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return (new EventStream(response, await response.Content.ReadAsStreamAsync(cancellationToken)), response);
    }

    /// <summary>Opens the stream and expects it to be served.</summary>
    public static async Task<EventStream> OpenOkAsync(HttpClient client, string id, string? lastEventId = null)
    {
        var (stream, response) = await OpenAsync(client, id, lastEventId);
        if (stream is null)
            Assert.Fail($"Expected 200, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return stream;
    }

    /// <summary>The next event or comment; null once the server has closed the stream.</summary>
    public async Task<Item?> ReadAsync(TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? Poll.Deadline);
        string? id = null, name = null, comment = null;
        var data = new List<string>();
        while (true)
        {
            var line = await _reader.ReadLineAsync(deadline.Token);
            if (line is null)
                return null;
            if (line.Length == 0)
            {
                if (comment is not null && id is null && data.Count == 0)
                    return new Item(null, null, null, comment);
                if (data.Count > 0)
                    return new Item(id, name ?? "message", JsonDocument.Parse(string.Join('\n', data)).RootElement.Clone(), null);
                continue;
            }

            if (line.StartsWith(':'))
            {
                comment = line[1..].Trim();
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? string.Empty : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id": id = value; break;
                case "event": name = value; break;
                case "data": data.Add(value); break;
            }
        }
    }

    /// <summary>Every event up to the end of the stream, skipping comments.</summary>
    public async Task<List<Item>> ReadEventsToEndAsync()
    {
        var events = new List<Item>();
        while (await ReadAsync() is { } item)
        {
            if (item.Comment is null)
                events.Add(item);
        }

        return events;
    }

    /// <summary>The next event, skipping comments; null once the stream has ended.</summary>
    public async Task<Item?> ReadEventAsync()
    {
        while (await ReadAsync() is { } item)
        {
            if (item.Comment is null)
                return item;
        }

        return null;
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>An event (<see cref="Id"/>, <see cref="Name"/>, <see cref="Data"/>) or a comment line.</summary>
    public sealed record Item(string? Id, string? Name, JsonElement? Data, string? Comment)
    {
        public string Status => Data!.Value.GetProperty("status").GetString()!;

        public long EventId => long.Parse(Id!, System.Globalization.CultureInfo.InvariantCulture);
    }
}
