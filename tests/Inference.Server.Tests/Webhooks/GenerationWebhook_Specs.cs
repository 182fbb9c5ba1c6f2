using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Tests.Api;

namespace Inference.Server.Tests.Webhooks;

/// <summary><see cref="GenerationApp"/> whose webhooks may go to the loopback receiver.</summary>
public sealed class GenerationWebhookApp() : GenerationApp(WebhookSettings.Quick());

/// <summary>A generation's <c>inference.completed</c> webhook carries its text exactly, as GET shows it.</summary>
public sealed class When_a_generation_with_a_webhook_completes(GenerationWebhookApp app) : IClassFixture<GenerationWebhookApp>, IAsyncLifetime
{
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task Should_send_the_text_and_finish_reason_in_the_completed_event()
    {
        using var client = app.CreateDevClient();
        var path = $"hooks/{Guid.NewGuid():N}";

        using var response = await client.PostAsJsonAsync("/v1/inferences", new
        {
            model = ScriptedGenerator.Id, input = "with a webhook", parameters = new { max_tokens = 12 }, webhook = _receiver.Url(path),
        });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        var webhook = Assert.Single(await _receiver.WaitForAsync(path, 1));
        var output = webhook.Json.GetProperty("data").GetProperty("output");
        Assert.Equal((ScriptedGenerator.Expected(12).Text, "length"), (output.GetProperty("text").GetString(), output.GetProperty("finish_reason").GetString()));
        var got = await client.GetFromJsonAsync<JsonElement>($"/v1/inferences/{id}");
        // The same text (the webhook's JSON escapes some characters otherwise: \u0022 for a quote).
        Assert.Equal(got.GetProperty("output").GetProperty("text").GetString(), output.GetProperty("text").GetString());
    }
}
