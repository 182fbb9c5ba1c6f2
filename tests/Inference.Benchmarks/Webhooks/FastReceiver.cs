using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Inference.Benchmarks.Webhooks;

/// <summary>
/// A webhook receiver that answers <c>200</c> at once and counts what it got by <c>webhook-id</c>, so that the figure
/// is the dispatcher's and a double send shows.
/// </summary>
internal sealed class FastReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public FastReceiver()
    {
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/hook";

    /// <summary>How often each webhook-id arrived.</summary>
    public ConcurrentDictionary<string, int> Received { get; } = new(StringComparer.Ordinal);

    public long Count => Received.Values.Sum(x => (long)x);

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (var body = context.Request.InputStream)
                    await body.CopyToAsync(Stream.Null).ConfigureAwait(false);
                Received.AddOrUpdate(context.Request.Headers["webhook-id"] ?? "", 1, (_, n) => n + 1);
                context.Response.StatusCode = 200;
                context.Response.ContentLength64 = 0;
                context.Response.Close();
            });
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
