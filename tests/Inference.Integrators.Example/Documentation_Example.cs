using System.Collections.Concurrent;
using Inference.Contracts;
using Inference.Orchestration;
using Inference.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Integrators.Example;

/// <summary>The service under test: it files each completed embedding under its request's id.</summary>
public sealed class DocumentIndex
{
    public ConcurrentDictionary<Guid, IReadOnlyList<float[]>> Embeddings { get; } = new();
}

/// <summary>The service's consumer of the platform's outcome event.</summary>
public sealed class IndexEmbeddings(DocumentIndex index) : IConsumer<InferenceCompleted>
{
    public Task Consume(ConsumeContext<InferenceCompleted> context)
    {
        index.Embeddings[context.Message.InferenceId] = context.Message.Output.Embeddings ?? [];
        return Task.CompletedTask;
    }
}

public sealed class When_documents_are_embedded : IAsyncLifetime
{
    private readonly ServiceProvider _provider = new ServiceCollection()
        .AddSingleton<DocumentIndex>()
        .AddInferenceTestHarness(options =>
        {
            options.Tenant("acme");
            options.Model("all-minilm-l6-v2").ReturnsFakeEmbeddings(dimensions: 384);
            options.ConfigureBus(bus => bus.AddConsumer<IndexEmbeddings>());
        })
        .BuildServiceProvider();

    private InferenceTestHarness Harness => _provider.GetInferenceTestHarness();

    public Task InitializeAsync() => Harness.StartAsync();

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    [Fact]
    public async Task Should_index_one_embedding_per_document()
    {
        var submission = new SubmitInference
        {
            InferenceId = NewId.NextGuid(),
            TenantId = "acme",
            Model = "all-minilm-l6-v2",
            Inputs = ["The first document.", "The second document."],
        };

        var response = await Harness.SubmitAsync(submission);
        Assert.True(response.Is(out Response<InferenceAccepted>? _));

        var outcome = await Harness.WaitForOutcomeAsync(submission.InferenceId);
        Assert.Equal(InferenceStatusNames.Completed, outcome.Status);
        Assert.True(await Harness.TestHarness.Consumed.Any<InferenceCompleted>());
        var indexed = _provider.GetRequiredService<DocumentIndex>().Embeddings[submission.InferenceId];
        Assert.Equal(FakeEmbeddings.For("The first document."), indexed[0]);
        Assert.Equal(384, indexed[1].Length);
    }

    [Fact]
    public async Task Should_see_the_failure_when_the_quota_is_used_up()
    {
        Harness.Tenant("acme").RefuseQuota(retryAfter: TimeSpan.FromSeconds(30));
        var submission = new SubmitInference
        {
            InferenceId = NewId.NextGuid(),
            TenantId = "acme",
            Model = "all-minilm-l6-v2",
            Inputs = ["A document."],
        };

        var response = await Harness.SubmitAsync(submission);

        Assert.True(response.Is(out Response<InferenceRejected>? rejected));
        Assert.Equal((ErrorCodes.RateLimitTokens, TimeSpan.FromSeconds(30)), (rejected.Message.Code, rejected.Message.RetryAfter));
        var status = await Harness.GetStatusAsync(submission.InferenceId);
        Assert.True(status.Is(out Response<InferenceStatus>? failed));
        Assert.Equal(InferenceStatusNames.Failed, failed.Message.Status);
    }
}
