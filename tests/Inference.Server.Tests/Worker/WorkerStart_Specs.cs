using System.Net;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Tests.Integration;
using Inference.Server.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Inference.Server.Tests.Worker;

/// <summary><c>Worker:Models</c> picks the models a worker serves, from the catalogue only.</summary>
public sealed class When_Worker_Models_is_configured
{
    [Fact]
    public async Task Should_refuse_to_start_and_name_the_setting_when_it_names_a_model_not_in_the_catalogue()
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?> { ["Worker:Models"] = "all-minilm-l6-v2,no-such-model" });

        var refused = Assert.ThrowsAny<Exception>(() => app.Server);

        var message = refused.GetBaseException().Message;
        Assert.Contains("Worker:Models", message, StringComparison.Ordinal);
        Assert.Contains("'no-such-model'", message, StringComparison.Ordinal);
        Assert.DoesNotContain("'all-minilm-l6-v2'", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a, b ,a", new[] { "a", "b" })]
    [InlineData("", new string[0])]
    public void Should_read_one_comma_separated_value(string value, string[] expected)
    {
        var options = new WorkerOptions();

        WorkerOptions.Bind(options, Configuration(new() { ["Worker:Models"] = value }));

        Assert.Equal(expected, options.Models);
        Assert.True(options.ForwardLegacyQueue);
    }

    [Fact]
    public void Should_read_a_list()
    {
        var options = new WorkerOptions();

        WorkerOptions.Bind(options, Configuration(new()
        {
            ["Worker:Models:0"] = "gpt2", ["Worker:Models:1"] = "all-minilm-l6-v2", ["Worker:ForwardLegacyQueue"] = "false",
        }));

        Assert.Equal(["gpt2", "all-minilm-l6-v2"], options.Models);
        Assert.False(options.ForwardLegacyQueue);
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}

/// <summary>A worker is ready (<c>/health/ready</c>) only once every model it serves is loaded and warm.</summary>
public sealed class When_a_worker_warms_its_models : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_be_unready_until_the_last_model_is_warm_and_ready_after()
    {
        var quick = new FakeEmbeddingModel(FakeDescriptors.NewId("embed"), 4);
        var held = new FakeGenerationModel(FakeDescriptors.NewId("gen"), 4, 8) { WarmUpGate = FakeModel.NewGate() };
        await using var worker = new WorkerApp(_services, [quick, held]);
        using var client = worker.App.CreateClient();

        await Poll.UntilAsync(() => quick.IsLoaded, "the first model to be warm");
        using var loading = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, loading.StatusCode);
        held.WarmUpGate.SetResult();
        await Poll.UntilAsync(async () =>
        {
            using var ready = await client.GetAsync("/health/ready");
            return ready.StatusCode == HttpStatusCode.OK;
        }, "the worker to be ready");
        Assert.True(held.IsLoaded);
    }

    [Fact]
    public async Task Should_stay_unready_and_log_critically_when_a_model_fails_to_load()
    {
        var broken = new FakeEmbeddingModel(FakeDescriptors.NewId("embed"), 4) { WarmUpGate = FakeModel.NewGate() };
        broken.WarmUpGate.SetException(new IOException("the model file is missing"));
        var logs = new CapturedLogs();
        await using var worker = new WorkerApp(_services, [new FakeEmbeddingModel(FakeDescriptors.NewId("embed"), 4), broken], logs: logs);
        using var client = worker.App.CreateClient();

        var failure = await Poll.UntilAsync(
            () => Task.FromResult(logs.Entries.FirstOrDefault(e => e.Level == LogLevel.Critical && e.Message.Contains(broken.Descriptor.Id, StringComparison.Ordinal))),
            entry => entry.Message is not null, "the failure to be logged");
        using var response = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("unready", failure.Message, StringComparison.Ordinal);
    }
}
