using System.Collections.Concurrent;
using Inference.Engine;
using Inference.Orchestration.Protocol;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Tests.Integration;
using Inference.Server.Worker;
using MassTransit;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Worker;

/// <summary>
/// A worker process (<c>--role worker</c>) on a private slice of the real RabbitMQ, whose catalogue is
/// the given catalog (fakes) instead of the engine's, and a listener on the same bus for what it publishes.
/// </summary>
internal sealed class WorkerApp : IAsyncDisposable
{
    private readonly InferenceAppFactory _factory;

    public WorkerApp(IsolatedServices services, IReadOnlyList<IInferenceModel> catalog, string? models = null, CapturedLogs? logs = null)
    {
        var settings = services.Settings("worker");
        if (models is not null)
            settings["Worker:Models"] = models;
        _factory = new InferenceAppFactory(settings, logs);
        App = _factory.WithWebHostBuilder(builder => builder.ConfigureTestServices(test =>
            test.AddSingleton(provider => new WorkerModels(catalog, provider.GetRequiredService<IOptions<WorkerOptions>>()))));
    }

    public WebApplicationFactory<Program> App { get; }

    public IBus Bus => App.Services.GetRequiredService<IBus>();

    /// <summary>Sends <paramref name="message"/> to <paramref name="queue"/>, as the saga does.</summary>
    public async Task SendAsync(string queue, RunInference message)
    {
        var endpoint = await Bus.GetSendEndpoint(new Uri($"queue:{queue}"));
        await endpoint.Send(message);
    }

    /// <summary>Starts listening, on a temporary queue, for what workers publish.</summary>
    public async Task<Published> ListenAsync()
    {
        var published = new Published();
        var handle = Bus.ConnectReceiveEndpoint(new TemporaryEndpointDefinition(), DefaultEndpointNameFormatter.Instance, endpoint =>
        {
            endpoint.Handler<InferenceStarted>(context => Keep(published.Started, context.Message));
            endpoint.Handler<InferenceSucceeded>(context => Keep(published.Succeeded, context.Message));
            endpoint.Handler<InferenceOutputDelta>(context => Keep(published.Deltas, context.Message));
            endpoint.Handler<Fault<RunInference>>(context => Keep(published.Faults, context.Message));
        });
        await handle.Ready;
        return published;
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _factory.DisposeAsync();
    }

    private static Task Keep<T>(ConcurrentQueue<T> queue, T message)
    {
        queue.Enqueue(message);
        return Task.CompletedTask;
    }

    public static RunInference Run(string model, params string[] inputs) => new()
    {
        InferenceId = NewId.NextGuid(),
        Model = model,
        Inputs = inputs,
        NotAfter = DateTimeOffset.UtcNow.AddMinutes(5),
    };
}

/// <summary>What the workers published, as a listener on the bus received it.</summary>
internal sealed class Published
{
    public ConcurrentQueue<InferenceStarted> Started { get; } = new();

    public ConcurrentQueue<InferenceSucceeded> Succeeded { get; } = new();

    public ConcurrentQueue<InferenceOutputDelta> Deltas { get; } = new();

    public ConcurrentQueue<Fault<RunInference>> Faults { get; } = new();

    public async Task<InferenceSucceeded> SucceededAsync(Guid id) =>
        (await Poll.UntilAsync(() => Task.FromResult(Succeeded.FirstOrDefault(s => s.InferenceId == id)), s => s is not null,
            $"the success of {id}"))!;

    public async Task<Fault<RunInference>> FaultAsync(Guid id) =>
        (await Poll.UntilAsync(() => Task.FromResult(Faults.FirstOrDefault(f => f.Message.InferenceId == id)), f => f is not null,
            $"the fault of {id}"))!;
}
