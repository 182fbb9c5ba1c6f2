using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Api;
using Inference.Server.Tests.Api;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Integration;

/// <summary>
/// <c>Prefer: wait</c> on the real services, each role in its own process: the API processes hear the outcome events on
/// queues of their own, so each one's waiting submission is answered with its final state.
/// </summary>
public sealed class When_a_submission_waits_on_the_real_services : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_answer_200_completed_from_every_api_process()
    {
        await using var orchestrator = new InferenceAppFactory(_services.Settings("orchestrator"));
        await using var worker = new InferenceAppFactory(_services.Settings("worker"));
        await using var firstApi = new InferenceAppFactory(_services.Settings("api"));
        await using var secondApi = new InferenceAppFactory(_services.Settings("api"));
        _ = orchestrator.Services;
        _ = worker.Services;
        using var first = firstApi.CreateDevClient();
        using var second = secondApi.CreateDevClient();

        var answers = await Task.WhenAll(
            first.SendAsync(PreferWait.Request(new[] { "A man is playing a guitar." }, "wait=30")),
            second.SendAsync(PreferWait.Request(new[] { "Someone plays the guitar." }, "wait=30")));

        foreach (var (response, api) in answers.Zip([firstApi, secondApi]))
        {
            using (response)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("wait=30", PreferWait.Applied(response));
                var inference = await response.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal("completed", inference.GetProperty("status").GetString());
                Assert.Equal(384, Assert.Single(inference.Embeddings()).Length);
                Assert.Equal(0, api.Services.GetRequiredService<InferenceWaiters>().Count);
            }
        }
    }
}
