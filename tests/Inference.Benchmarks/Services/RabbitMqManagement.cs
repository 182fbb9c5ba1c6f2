using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Inference.Benchmarks.Services;

/// <summary>The few calls of RabbitMQ's management HTTP API that a benchmark needs.</summary>
/// <remarks>
/// Message counts come from the management database, which collects them every <c>collect_statistics_interval</c>
/// (5 s by default): read them only once that long has passed since the traffic they should include.
/// </remarks>
internal sealed class RabbitMqManagement : IDisposable
{
    private readonly HttpClient _http;

    /// <param name="endpoint">The API's root, with the credentials in its user information.</param>
    public RabbitMqManagement(Uri endpoint)
    {
        var credentials = endpoint.UserInfo.Split(':', 2) is [var user, var password]
            ? (User: Uri.UnescapeDataString(user), Password: Uri.UnescapeDataString(password))
            : throw new ArgumentException("The management URI must carry user:password.", nameof(endpoint));
        User = credentials.User;
        _http = new HttpClient { BaseAddress = new Uri(endpoint.GetLeftPart(UriPartial.Authority) + "/api/"), Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credentials.User}:{credentials.Password}")));
    }

    /// <summary>The user the API is called as; the benchmark gives it the rights on the virtual hosts it creates.</summary>
    public string User { get; }

    public async Task CreateVirtualHostAsync(string vhost, CancellationToken cancellationToken)
    {
        using var created = await _http.PutAsync($"vhosts/{Uri.EscapeDataString(vhost)}", null, cancellationToken).ConfigureAwait(false);
        created.EnsureSuccessStatusCode();
        using var permitted = await _http.PutAsJsonAsync($"permissions/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(User)}",
            new { configure = ".*", write = ".*", read = ".*" }, cancellationToken).ConfigureAwait(false);
        permitted.EnsureSuccessStatusCode();
    }

    public async Task DeleteVirtualHostAsync(string vhost, CancellationToken cancellationToken)
    {
        using var response = await _http.DeleteAsync($"vhosts/{Uri.EscapeDataString(vhost)}", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != System.Net.HttpStatusCode.NotFound)
            response.EnsureSuccessStatusCode();
    }

    /// <summary>Messages published into and delivered from each virtual host since it was created.</summary>
    public async Task<IReadOnlyDictionary<string, VirtualHostTraffic>> ReadTrafficAsync(CancellationToken cancellationToken)
    {
        using var document = await GetAsync("vhosts", cancellationToken).ConfigureAwait(false);
        var traffic = new Dictionary<string, VirtualHostTraffic>(StringComparer.Ordinal);
        foreach (var vhost in document.RootElement.EnumerateArray())
        {
            // A virtual host through which nothing has passed yet has no message_stats at all.
            var stats = vhost.TryGetProperty("message_stats", out var s) && s.ValueKind == JsonValueKind.Object ? s : default;
            traffic[vhost.GetProperty("name").GetString()!] = new VirtualHostTraffic(Count(stats, "publish"), Count(stats, "deliver_get"));
        }

        return traffic;
    }

    /// <summary>The queues of <paramref name="vhost"/> with the messages they hold, ready or unacknowledged.</summary>
    public async Task<IReadOnlyDictionary<string, long>> ReadQueueDepthsAsync(string vhost, CancellationToken cancellationToken)
    {
        using var document = await GetAsync($"queues/{Uri.EscapeDataString(vhost)}?columns=name,messages", cancellationToken).ConfigureAwait(false);
        return document.RootElement.EnumerateArray().ToDictionary(
            queue => queue.GetProperty("name").GetString()!,
            queue => queue.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Number ? messages.GetInt64() : 0,
            StringComparer.Ordinal);
    }

    /// <summary>The operating-system process id of the broker's (first) node, and its version.</summary>
    public async Task<(int? Pid, string Version)> ReadNodeAsync(CancellationToken cancellationToken)
    {
        using var overview = await GetAsync("overview", cancellationToken).ConfigureAwait(false);
        var version = overview.RootElement.GetProperty("rabbitmq_version").GetString() ?? "unknown";
        using var nodes = await GetAsync("nodes", cancellationToken).ConfigureAwait(false);
        int? pid = nodes.RootElement.EnumerateArray().Select(node => node.TryGetProperty("os_pid", out var osPid)
            ? osPid.ValueKind switch
            {
                // 3.x reports it as a string.
                JsonValueKind.String when int.TryParse(osPid.GetString(), out var value) => value,
                JsonValueKind.Number => osPid.GetInt32(),
                _ => (int?)null,
            }
            : null).FirstOrDefault();
        return (pid, version);
    }

    public void Dispose() => _http.Dispose();

    private static long Count(JsonElement stats, string name) =>
        stats.ValueKind == JsonValueKind.Object && stats.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
            ? value.GetInt64()
            : 0;

    private async Task<JsonDocument> GetAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(path, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Cumulative message counts of one virtual host.</summary>
/// <param name="Published">Messages clients published into it.</param>
/// <param name="Delivered">Messages delivered to consumers (or fetched), redeliveries included.</param>
internal sealed record VirtualHostTraffic(long Published, long Delivered);
