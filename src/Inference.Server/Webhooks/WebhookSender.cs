using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using StandardWebhooks;

namespace Inference.Server.Webhooks;

/// <summary>
/// Makes one attempt of one delivery: a signed <c>POST</c> per Standard Webhooks, over connections that
/// <see cref="WebhookAddressGuard"/> opens to checked addresses only. Redirects are not followed (a <c>3xx</c> is a
/// failed attempt), no proxy is used, and the attempt ends after <see cref="WebhookOptions.Timeout"/>.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    private readonly HttpClient _client;
    private readonly IOptions<WebhookOptions> _options;

    public WebhookSender(WebhookAddressGuard guard, IOptions<WebhookOptions> options)
    {
        ArgumentNullException.ThrowIfNull(guard);
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = guard.ConnectAsync,
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            MaxConnectionsPerServer = options.Value.MaxConcurrentPerDestination,
            // A connection is kept to its checked address; renewed now and then so that a receiver's move is followed.
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = options.Value.Timeout,
        };
        _client = new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd("Inference-Webhooks/1.0");
    }

    /// <summary>Sends <paramref name="delivery"/> once, signed with each of <paramref name="secrets"/>.</summary>
    public async Task<WebhookAttempt> SendAsync(WebhookDelivery delivery, IReadOnlyList<string> secrets, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        ArgumentNullException.ThrowIfNull(secrets);
        var id = delivery.Id.ToString();
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Url)
        {
            Content = new StringContent(delivery.Payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("webhook-id", id);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        // Several signatures are separated by spaces; a receiver accepts the message if any of them verifies.
        request.Headers.TryAddWithoutValidation("webhook-signature",
            string.Join(' ', secrets.Select(secret => new StandardWebhook(secret).Sign(id, now, delivery.Payload))));

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Value.Timeout);
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            return new WebhookAttempt(status, status is >= 200 and < 300 ? null : $"The receiver answered {status}.", RetryAfter(response, now));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WebhookAttempt(null, $"No answer within {_options.Value.Timeout.TotalSeconds:0.###} s.", null);
        }
        catch (HttpRequestException exception) when (FindRefusal(exception) is { } refused)
        {
            return new WebhookAttempt(null, refused.Message, null, Refused: true);
        }
        catch (HttpRequestException exception)
        {
            return new WebhookAttempt(null, Describe(exception), null);
        }
    }

    private static WebhookDestinationRefusedException? FindRefusal(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is WebhookDestinationRefusedException refused)
                return refused;
        }

        return null;
    }

    private static string Describe(HttpRequestException exception)
    {
        var innermost = exception.GetBaseException();
        return innermost == exception ? exception.Message : $"{exception.Message} ({innermost.Message})";
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now) =>
        response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date > now ? date - now : TimeSpan.Zero,
            _ => null,
        };

    public void Dispose() => _client.Dispose();
}

/// <summary>One attempt's outcome.</summary>
/// <param name="StatusCode">The receiver's status; null when none came (connection error, timeout, refusal).</param>
/// <param name="Error">What went wrong; null on a 2xx.</param>
/// <param name="RetryAfter">The receiver's <c>Retry-After</c>, if any.</param>
/// <param name="Refused">The destination is not allowed (see <see cref="WebhookAddressGuard"/>).</param>
public sealed record WebhookAttempt(int? StatusCode, string? Error, TimeSpan? RetryAfter, bool Refused = false)
{
    public bool Delivered => StatusCode is >= 200 and < 300;
}
