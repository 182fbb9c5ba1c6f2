using System.Collections.Concurrent;
using Inference.Contracts;
using Inference.Orchestration.Protocol;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Testing;

/// <summary>
/// Stands in for the platform's model worker on each scripted model's queue (<see cref="ProtocolEndpoints.WorkerFor"/>): like it, it skips work past its
/// deadline or already canceled, publishes <see cref="InferenceStarted"/> before the run, and then the output of the
/// <see cref="ScriptedModel"/>; a scripted failure throws, so MassTransit publishes the fault the saga fails on.
/// </summary>
internal sealed class ScriptedModelConsumer(InferenceScript script, ScriptedRuns runs, TimeProvider clock) : IConsumer<RunInference>
{
    public async Task Consume(ConsumeContext<RunInference> context)
    {
        var message = context.Message;
        if ((message.NotAfter is { } notAfter && clock.GetUtcNow() > notAfter) || runs.HasEnded(message.InferenceId))
            return;

        var model = script.FindModel(message.Model)
            ?? throw new ScriptedModelException($"Model '{message.Model}' is not scripted in this harness.");

        await context.Publish(new InferenceStarted { InferenceId = message.InferenceId, StartedAt = clock.GetUtcNow() },
            context.CancellationToken).ConfigureAwait(false);

        var output = model.StartRun();
        if (model.Delay > TimeSpan.Zero)
        {
            using var run = runs.Start(message.InferenceId, context.CancellationToken);
            try
            {
                await Task.Delay(model.Delay, run.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!context.CancellationToken.IsCancellationRequested)
            {
                // The request ended meanwhile (canceled or past its deadline), or the test did: the run is stopped, as
                // the worker stops it.
                return;
            }
        }

        if (model.Failure is { } failure)
            throw new ScriptedModelException(failure);

        await context.Publish(new InferenceSucceeded
        {
            InferenceId = message.InferenceId,
            Output = output(message.Inputs),
            Usage = new InferenceUsage { PromptTokens = SimpleTokenizer.Count(message.Inputs), CompletionTokens = 0 },
        }, context.CancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// The scripted model's runs in progress, stopped when their request ends early (canceled, or failed by its
/// deadline), as the platform's worker stops a canceled run.
/// </summary>
internal sealed class ScriptedRuns : IDisposable
{
    private readonly ConcurrentDictionary<Guid, CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<Guid, bool> _ended = new();
    private volatile bool _stopped;

    public bool HasEnded(Guid inferenceId) => _ended.ContainsKey(inferenceId);

    public Run Start(Guid inferenceId, CancellationToken stopping)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _running[inferenceId] = source;
        if (_stopped || HasEnded(inferenceId))
            source.Cancel();
        return new Run(() =>
        {
            _running.TryRemove(new KeyValuePair<Guid, CancellationTokenSource>(inferenceId, source));
            source.Dispose();
        }, source.Token);
    }

    /// <summary>Stops the run of a request that ended early, and keeps a later run of it from waiting.</summary>
    public void End(Guid inferenceId)
    {
        _ended[inferenceId] = true;
        Stop(inferenceId);
    }

    /// <summary>Stops every run: the test is over, and the bus waits for its consumers before it stops.</summary>
    public void Dispose()
    {
        _stopped = true;
        foreach (var inferenceId in _running.Keys)
            Stop(inferenceId);
    }

    private void Stop(Guid inferenceId)
    {
        if (!_running.TryGetValue(inferenceId, out var source))
            return;

        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // the run finished meanwhile
        }
    }

    public sealed class Run(Action end, CancellationToken token) : IDisposable
    {
        public CancellationToken Token => token;

        public void Dispose() => end();
    }
}

/// <summary>Stops every scripted run when the bus stops: the bus waits for its consumers, and a test is over by then.</summary>
internal sealed class ScriptedRunsStopOnBusStop(ScriptedRuns runs) : IBusObserver
{
    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception)
    {
    }

    public Task PreStart(IBus bus) => Task.CompletedTask;

    public Task PostStart(IBus bus, Task<BusReady> busReady) => Task.CompletedTask;

    public Task StartFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    public Task PreStop(IBus bus)
    {
        runs.Dispose();
        return Task.CompletedTask;
    }

    public Task PostStop(IBus bus) => Task.CompletedTask;

    public Task StopFaulted(IBus bus, Exception exception) => Task.CompletedTask;
}

/// <summary>Hears of requests that ended early and stops their scripted runs.</summary>
internal sealed class ScriptedRunStopper(ScriptedRuns runs) : IConsumer<InferenceCanceled>, IConsumer<InferenceFailed>
{
    public Task Consume(ConsumeContext<InferenceCanceled> context)
    {
        runs.End(context.Message.InferenceId);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<InferenceFailed> context)
    {
        runs.End(context.Message.InferenceId);
        return Task.CompletedTask;
    }
}

/// <summary>What a <see cref="ScriptedModel"/> scripted to fail throws; the request fails with <c>inference_failed</c>.</summary>
public sealed class ScriptedModelException : Exception
{
    public ScriptedModelException()
    {
    }

    public ScriptedModelException(string message)
        : base(message)
    {
    }

    public ScriptedModelException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Listens with <see cref="ScriptedModelConsumer"/> on the queue of every model the script knows, as the platform's
/// workers listen on their models' queues: those scripted before the start once the bus has started, later ones at once.
/// </summary>
internal sealed class ScriptedWorkerEndpoints(InferenceScript script, IServiceProvider provider) : IBusObserver
{
    private readonly Dictionary<string, HostReceiveEndpointHandle> _connected = new(StringComparer.Ordinal);
    private IReceiveEndpointConnector? _connector;

    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception)
    {
    }

    public Task PreStart(IBus bus) => Task.CompletedTask;

    public async Task PostStart(IBus bus, Task<BusReady> busReady)
    {
        lock (_connected)
            _connector = provider.GetRequiredService<IReceiveEndpointConnector>();
        script.ModelAdded += id => Connect(id);
        await Task.WhenAll(script.ModelIds.ToList().Select(id => Connect(id).Ready)).ConfigureAwait(false);
    }

    public Task StartFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    public Task PreStop(IBus bus) => Task.CompletedTask;

    public Task PostStop(IBus bus) => Task.CompletedTask;

    public Task StopFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    private HostReceiveEndpointHandle Connect(string model)
    {
        lock (_connected)
        {
            if (!_connected.TryGetValue(model, out var handle))
            {
                var connector = _connector ?? throw new InvalidOperationException("The bus has not started.");
                handle = connector.ConnectReceiveEndpoint(ProtocolEndpoints.WorkerFor(model),
                    (context, endpoint) => endpoint.ConfigureConsumer<ScriptedModelConsumer>(context));
                _connected[model] = handle;
            }

            return handle;
        }
    }
}
