using System.Collections.Concurrent;
using Inference.Contracts;
using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Testing;

/// <summary>The result store, in memory: the first output stored for a request stands, as in the platform's.</summary>
internal sealed class InMemoryResultStore
{
    private readonly ConcurrentDictionary<Guid, InferenceOutput> _results = new();

    public InferenceOutput Store(Guid inferenceId, InferenceOutput output) => _results.GetOrAdd(inferenceId, output);

    public InferenceOutput? Find(Guid inferenceId) => _results.GetValueOrDefault(inferenceId);
}

/// <summary>Stands in for the platform's result-store consumer on <see cref="ProtocolEndpoints.Results"/>.</summary>
internal sealed class InMemoryResultStoreConsumer(InMemoryResultStore store) : IConsumer<StoreResult>
{
    public Task Consume(ConsumeContext<StoreResult> context)
    {
        var output = store.Store(context.Message.InferenceId, context.Message.Output);
        return context.Publish(new ResultStored { InferenceId = context.Message.InferenceId, Output = output }, context.CancellationToken);
    }
}
