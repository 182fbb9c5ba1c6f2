using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Inference.Server.Tests.Integration;

/// <summary>What a client of the REST API does: submit, then poll until the request ends.</summary>
public static class InferenceClient
{
    private static readonly string[] FinalStatuses = ["completed", "failed", "canceled"];

    public static async Task<JsonElement> SubmitAsync(this HttpClient client, object body)
    {
        var response = await client.PostAsJsonAsync("/v1/inferences", body);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>
    /// Polls <c>GET /v1/inferences/{id}</c> until a final status, failing after 60 seconds. A 404 counts as "not yet"
    /// only for a request sent straight to the bus, which the saga may not have stored when polling starts.
    /// </summary>
    public static async Task<JsonElement> WaitUntilFinishedAsync(this HttpClient client, string id, bool sentToBus = false)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var response = await client.GetAsync($"/v1/inferences/{id}", deadline.Token);
            if (!(sentToBus && response.StatusCode == HttpStatusCode.NotFound))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var inference = await response.Content.ReadFromJsonAsync<JsonElement>(deadline.Token);
                if (FinalStatuses.Contains(inference.GetProperty("status").GetString()))
                    return inference;
            }

            await Task.Delay(50, deadline.Token);
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, failing after 30 seconds.</summary>
    public static async Task Eventually(Func<Task<bool>> condition)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!await condition())
            await Task.Delay(50, deadline.Token);
    }
}
