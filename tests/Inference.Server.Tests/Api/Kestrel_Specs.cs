using System.Net;
using System.Text;
using Inference.Server.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Inference.Server.Tests.Api;

/// <summary>
/// The app on a real Kestrel listener (a free loopback port), because the errors these specs are about are raised by
/// the server while the endpoint reads the body, which the in-memory test server never does. Bodies may be at most
/// 2 KiB, and one must arrive at 240 bytes a second once 1.5 s have passed.
/// </summary>
public sealed class KestrelApp() : EmbeddedApp(new Dictionary<string, string?>
{
    ["Api:MaxRequestBodyBytes"] = "2048",
})
{
    /// <summary>Where the listener is: the address that <see cref="EmbeddedApp.CreateClient"/> sends to.</summary>
    public Uri Address
    {
        get
        {
            using var client = CreateClient();
            return client.BaseAddress!;
        }
    }

    protected override WebApplicationFactory<Program> Customize(InferenceAppFactory factory)
    {
        factory.UseKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0);
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(1.5));
        });
        return factory;
    }
}

/// <summary>Every request here is refused, so the app never holds a saga and the dev tenant's quota stays untouched.</summary>
public sealed class When_the_server_refuses_how_a_body_arrives(KestrelApp app) : IClassFixture<KestrelApp>
{
    private const string Head = $"POST /v1/inferences HTTP/1.1\r\nAuthorization: Bearer {InferenceAppFactory.ApiKey}\r\nContent-Type: application/json";

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Should_answer_413_payload_too_large_when_a_chunked_body_grows_past_the_limit()
    {
        using var client = app.CreateDevClient();

        using var response = await client.SubmitBytesAsync(InferencesClient.RequestOfSize(64 * 1024), chunked: true);

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_answer_413_to_a_content_length_over_the_limit_before_any_of_the_body_arrives()
    {
        // The body is never sent: only an answer that does not wait for it can arrive.
        using var response = await RawHttp.SendAsync(app.Address, $"{Head}\r\nContent-Length: 29000000", [], Patience);

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_answer_400_bad_request_to_malformed_chunked_framing()
    {
        using var response = await RawHttp.SendAsync(app.Address, $"{Head}\r\nTransfer-Encoding: chunked",
            Encoding.ASCII.GetBytes("zz\r\n{}\r\n0\r\n\r\n"), Patience);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "bad_request");
        await app.Services.AssertNothingReservedOrStoredAsync();
    }

    [Fact]
    public async Task Should_answer_408_request_timeout_to_a_body_that_stops_arriving()
    {
        // Ten of the hundred bytes promised, then nothing: the server gives up once the grace period has passed.
        using var response = await RawHttp.SendAsync(app.Address, $"{Head}\r\nContent-Length: 100",
            Encoding.ASCII.GetBytes("""{"model":"""), Patience);

        await response.AssertProblemAsync(HttpStatusCode.RequestTimeout, "request_timeout");
        await app.Services.AssertNothingReservedOrStoredAsync();
    }
}
