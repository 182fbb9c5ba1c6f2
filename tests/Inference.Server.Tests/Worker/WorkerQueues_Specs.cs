using System.Diagnostics.Metrics;
using Inference.Engine;
using Inference.Orchestration.Protocol;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Tests.Integration;

namespace Inference.Server.Tests.Worker;

/// <summary>
/// Each model has its own queue, <c>inference-worker-{model}</c>; a worker consumes the queues of the models it serves,
/// running as many requests at once as the model batches.
/// </summary>
public sealed class When_a_worker_serves_models_on_their_own_queues : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_run_a_batch_for_each_concurrent_run_and_one_more_and_record_their_queue_wait()
    {
        const int batch = 16;
        const int concurrentRuns = 2;
        const int inFlight = (concurrentRuns + 1) * batch;
        var model = new FakeEmbeddingModel(FakeDescriptors.NewId("embed"), batch, concurrentRuns)
        {
            Release = FakeModel.NewGate(),
            StartedAtShift = TimeSpan.FromHours(1),
        };
        var waits = new List<double>();
        using var meter = ListenToQueueWait(model.Descriptor.Id, waits);
        await using var worker = new WorkerApp(_services, [model]);
        var published = await worker.ListenAsync();
        var runs = Enumerable.Range(0, inFlight + 3).Select(i => WorkerApp.Run(model.Descriptor.Id, $"input number {i}")).ToList();

        await Task.WhenAll(runs.Select(run => worker.SendAsync(ProtocolEndpoints.WorkerFor(model.Descriptor.Id), run)));

        // A batch's worth per run and one to gather reach the model before any is let through (the consumer does not take
        // them one by one), and no more.
        await Poll.UntilAsync(() => model.MostInFlight == inFlight, $"{inFlight} calls in the model at once");
        model.Release.SetResult();
        foreach (var run in runs)
        {
            var success = await published.SucceededAsync(run.InferenceId);
            Assert.Equal([0.6f, 0.8f], success.Output.Embeddings!.Single());
            Assert.Equal((3, 0), (success.Usage.PromptTokens, success.Usage.CompletionTokens));
        }

        // From the send to the model's start, as the model reports it: an hour later here.
        lock (waits)
        {
            Assert.Equal(runs.Count, waits.Count);
            Assert.All(waits, wait => Assert.InRange(wait, 3600 - 60, 3600 + 60));
        }

        // The management API lists consumers with a delay of its own. A bit more than the batch is kept in hand.
        var queue = ProtocolEndpoints.WorkerFor(model.Descriptor.Id);
        var consumers = await Poll.UntilAsync(_services.ConsumersAsync, all => all.Any(c => c.Queue == queue), "the model's consumer to be listed");
        Assert.Equal(inFlight + 4, consumers.Single(c => c.Queue == queue).Prefetch);
        Assert.Equal(inFlight, model.MostInFlight);
    }

    [Fact]
    public async Task Should_leave_a_model_it_does_not_serve_to_that_models_workers()
    {
        var a = new FakeEmbeddingModel(FakeDescriptors.NewId("embed"), 4);
        var b = new FakeEmbeddingModel(FakeDescriptors.NewId("embed"), 4);
        await using var workerOfA = new WorkerApp(_services, [a, b], models: a.Descriptor.Id);
        var published = await workerOfA.ListenAsync();
        var forA = WorkerApp.Run(a.Descriptor.Id, "for a");
        var forB = WorkerApp.Run(b.Descriptor.Id, "for b");

        await workerOfA.SendAsync(ProtocolEndpoints.WorkerFor(b.Descriptor.Id), forB);
        await workerOfA.SendAsync(ProtocolEndpoints.WorkerFor(a.Descriptor.Id), forA);

        await published.SucceededAsync(forA.InferenceId);
        await Poll.UntilAsync(async () => (await _services.QueuesAsync()).GetValueOrDefault(ProtocolEndpoints.WorkerFor(b.Descriptor.Id)) == 1,
            "b's work waiting in b's queue");
        Assert.DoesNotContain(published.Started, started => started.InferenceId == forB.InferenceId);

        await using var workerOfB = new WorkerApp(_services, [a, b], models: b.Descriptor.Id);
        _ = workerOfB.App.Services;
        await published.SucceededAsync(forB.InferenceId);
    }

    [Fact]
    public async Task Should_forward_work_left_in_the_old_single_queue_to_its_models_queue()
    {
        var model = new FakeEmbeddingModel(FakeDescriptors.NewId("embed"), 4);
        await using var worker = new WorkerApp(_services, [model]);
        var published = await worker.ListenAsync();
        var run = WorkerApp.Run(model.Descriptor.Id, "queued before the upgrade");

        await worker.SendAsync(ProtocolEndpoints.LegacyWorker, run);

        var success = await published.SucceededAsync(run.InferenceId);
        Assert.Equal(4, success.Usage.PromptTokens);
        await Poll.UntilAsync(async () => (await _services.QueuesAsync()).Values.All(messages => messages == 0), "the queues to drain");
    }

    private static MeterListener ListenToQueueWait(string model, List<double> waits)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == InferenceMetrics.MeterName && instrument.Name == "inference_queue_wait_seconds")
                    listener.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag is { Key: "model", Value: string tagged } && tagged == model)
                {
                    lock (waits)
                        waits.Add(value);
                }
            }
        });
        listener.Start();
        return listener;
    }
}
