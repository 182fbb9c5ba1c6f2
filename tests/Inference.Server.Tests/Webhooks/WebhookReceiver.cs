using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StandardWebhooks;

namespace Inference.Server.Tests.Webhooks;

/// <summary>
/// A real HTTP receiver on loopback (Kestrel on a port of its own) that records every webhook it is sent and answers
/// as a spec scripts it, per path and attempt.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Func<int, HttpContext, Task>> _scripts = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<ReceivedWebhook> _received = new();

    private WebhookReceiver()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.MapPost("/{**path}", ReceiveAsync);
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var receiver = new WebhookReceiver();
        await receiver._app.StartAsync();
        return receiver;
    }

    public int Port => new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!
        .Addresses.First()).Port;

    /// <summary>The URL of a path on this receiver.</summary>
    public string Url(string path) => $"http://127.0.0.1:{Port}/{path}";

    /// <summary>How the receiver answers the <c>n</c>-th webhook (1-based) on <paramref name="path"/>; 200 when not scripted.</summary>
    public void Script(string path, Func<int, HttpContext, Task> respond) => _scripts[path] = respond;

    public IReadOnlyList<ReceivedWebhook> On(string path) => [.. _received.Where(x => x.Path == path)];

    /// <summary>Waits until <paramref name="path"/> has received <paramref name="count"/> webhooks; returns them in order.</summary>
    public async Task<IReadOnlyList<ReceivedWebhook>> WaitForAsync(string path, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var received = On(path);
            if (received.Count >= count)
                return received;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{path} received {received.Count} webhooks, not {count}, in time.");
            await Task.Delay(20);
        }
    }

    private async Task ReceiveAsync(HttpContext http, string path)
    {
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var headers = new HeaderDictionary();
        foreach (var (name, value) in http.Request.Headers)
            headers[name] = value;
        var attempt = On(path).Count + 1;
        _received.Enqueue(new ReceivedWebhook(path, DateTimeOffset.UtcNow, body, headers));

        if (_scripts.TryGetValue(path, out var respond))
            await respond(attempt, http);
        else
            http.Response.StatusCode = StatusCodes.Status200OK;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One webhook as the receiver got it.</summary>
internal sealed record ReceivedWebhook(string Path, DateTimeOffset At, string Body, HeaderDictionary Headers)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();

    public string Type => Json.GetProperty("type").GetString()!;

    public string Id => Headers["webhook-id"].ToString();

    public string[] Signatures => Headers["webhook-signature"].ToString().Split(' ');

    /// <summary>
    /// Verifies the signature as a receiver would, with the StandardWebhooks library; throws when no signature verifies.
    /// The library reads only the first of several signatures, so each is given to it on its own.
    /// </summary>
    public void Verify(string secret)
    {
        var webhook = new StandardWebhook(secret);
        Exception? last = null;
        foreach (var signature in Signatures)
        {
            var one = new HeaderDictionary();
            foreach (var (name, value) in Headers)
                one[name] = value;
            one["webhook-signature"] = signature;
            try
            {
                webhook.Verify(Body, one);
                return;
            }
            catch (StandardWebhooks.Diagnostics.WebhookVerificationException exception)
            {
                last = exception;
            }
        }

        throw last!;
    }
}
