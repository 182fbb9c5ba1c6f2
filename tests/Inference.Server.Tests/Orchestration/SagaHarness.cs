using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Orchestration;
using Inference.Server.Orchestration;
using Inference.Server.Tests.Infrastructure;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Orchestration;

/// <summary>
/// The inference saga on MassTransit's in-memory test harness, with its real endpoint definition (retry and outbox)
/// and nothing else: no quota, worker or result consumers, so each spec plays their part by publishing their events.
/// </summary>
/// <remarks>
/// One harness per test: a harness that has once gone quiet stops waiting in <c>Any</c>, so it cannot be shared.
/// </remarks>
public sealed class SagaHarness : IAsyncLifetime
{
    private readonly ServiceProvider _provider;

    /// <param name="inactivity">How long the bus must be quiet before the harness decides nothing more will happen;
    /// longer than the endpoint's retry delays where a spec waits for retries to run out.</param>
    /// <param name="clock">The machine's clock; the system's unless a spec moves time itself.</param>
    public SagaHarness(TimeSpan? inactivity = null, TimeProvider? clock = null)
    {
        _provider = new ServiceCollection()
            .AddSingleton(clock ?? TimeProvider.System)
            .Configure<OrchestrationOptions>(_ => { })
            .Configure<InferenceSagaEndpointOptions>(options => options.ConfigureRetry = OrchestrationFeature.ConfigureRetry)
            .AddSingleton<ISubmissionGate, ScriptedGate>()
            .AddMassTransitTestHarness(bus =>
            {
                bus.AddSagaStateMachine<InferenceStateMachine, InferenceState, InferenceStateDefinition>().InMemoryRepository();
            })
            .Configure<TestHarnessOptions>(options =>
            {
                options.TestInactivityTimeout = inactivity ?? TimeSpan.FromSeconds(1);
                options.TestTimeout = TimeSpan.FromSeconds(30);
            })
            .BuildServiceProvider(validateScopes: true);
    }

    public ITestHarness Harness => _provider.GetRequiredService<ITestHarness>();

    public ISagaStateMachineTestHarness<InferenceStateMachine, InferenceState> Saga =>
        Harness.GetSagaStateMachineHarness<InferenceStateMachine, InferenceState>();

    public InferenceStateMachine Machine => _provider.GetRequiredService<InferenceStateMachine>();

    public Task InitializeAsync() => Harness.Start();

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    public static SubmitInference Submission(Guid id, params string[] inputs) => new()
    {
        InferenceId = id,
        TenantId = "tenant-a",
        Model = "all-minilm-l6-v2",
        Inputs = inputs.Length == 0 ? ["hello world"] : inputs,
        SubmittedAt = DateTimeOffset.UtcNow,
    };

    public async Task<InferenceState> Submit(Guid id)
    {
        var endpoint = await Harness.Bus.GetSendEndpoint(new Uri($"queue:{InferenceEndpoints.Orchestrator}"));
        await endpoint.Send(Submission(id));
        return await InState(id, Machine.Submitted);
    }

    public async Task<InferenceState> Reserve(Guid id)
    {
        await Submit(id);
        await Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = 12 });
        return await InState(id, Machine.QuotaReserved);
    }

    public async Task<InferenceState> Start(Guid id)
    {
        await Reserve(id);
        await Harness.Bus.Publish(new InferenceStarted { InferenceId = id, StartedAt = DateTimeOffset.UtcNow });
        return await InState(id, Machine.Inferring);
    }

    public static InferenceSucceeded Success(Guid id) => new()
    {
        InferenceId = id,
        Output = new InferenceOutput { Embeddings = [[0.6f, 0.8f]] },
        Usage = new InferenceUsage { PromptTokens = 11, CompletionTokens = 3 },
    };

    public async Task<InferenceState> Succeed(Guid id)
    {
        await Start(id);
        await Harness.Bus.Publish(Success(id));
        await SentMessage<StoreResult>(m => m.InferenceId == id);
        return Saga.Sagas.Contains(id)!;
    }

    public async Task<InferenceState> Complete(Guid id)
    {
        await Succeed(id);
        await Harness.Bus.Publish(new ResultStored { InferenceId = id });
        return await InState(id, Machine.Completed);
    }

    public async Task<InferenceState> Fail(Guid id)
    {
        await Start(id);
        await Harness.Bus.Publish(Faulted(new RunInference { InferenceId = id, Model = "m", Inputs = ["x"] }));
        return await InState(id, Machine.Failed);
    }

    public async Task<InferenceState> InState(Guid id, State state)
    {
        Assert.True((await Saga.Exists(id, state, TimeSpan.FromSeconds(10))).HasValue,
            $"Saga {id} did not reach {state.Name}; it is in {Saga.Sagas.Contains(id)?.CurrentState ?? "no state"}.");
        return Saga.Sagas.Contains(id)!;
    }

    /// <summary>A fault as MassTransit publishes it when a consumer of <paramref name="message"/> gives up.</summary>
    public static Fault<T> Faulted<T>(T message)
        where T : class =>
        new MassTransit.Events.FaultEvent<T>(message, NewId.NextGuid(), new MassTransit.Metadata.BusHostInfo(), new InvalidOperationException("boom"), []);

    /// <summary>The first message of <typeparamref name="T"/> sent that matches, waiting for it if need be.</summary>
    public async Task<ISentMessage<T>> SentMessage<T>(Func<T, bool> match)
        where T : class
    {
        ISentMessage<T>? sent = null;
        await Eventually(() => (sent = Harness.Sent.Select<T>(x => match(x.Context.Message)).FirstOrDefault()) is not null);
        return sent!;
    }

    /// <summary>
    /// Delivers a consumed message once more, with its message id, as a broker redelivers a message whose consumer
    /// crashed before acknowledging it.
    /// </summary>
    public async Task Redeliver<T>(ConsumeContext<T> consumed)
        where T : class =>
        await Harness.Bus.Publish(consumed.Message, send => send.MessageId = consumed.MessageId);

    /// <summary>The only consumed message of <typeparamref name="T"/> that matches.</summary>
    public ConsumeContext<T> Consumed<T>(Func<T, bool> match)
        where T : class =>
        Harness.Consumed.Select<T>(x => match(x.Context.Message)).Single().Context;

    /// <summary>Waits until a message of <typeparamref name="T"/> that matches has been published.</summary>
    public Task PublishedMessage<T>(Func<T, bool> match)
        where T : class =>
        Eventually(() => Harness.Published.Select<T>(x => match(x.Context.Message)).Any());

    /// <summary>Waits until a message of <typeparamref name="T"/> that matches has been consumed.</summary>
    public Task ConsumedMessage<T>(Func<T, bool> match)
        where T : class =>
        Eventually(() => Harness.Consumed.Select<T>(x => match(x.Context.Message)).Any());

    /// <summary>Waits until <paramref name="condition"/> holds.</summary>
    public static Task Eventually(Func<bool> condition) => Poll.UntilAsync(condition, "the saga's messages");

    /// <summary>The instance as the repository holds it now, or null when it holds none (a finalized one is removed).</summary>
    public Task<InferenceState?> Stored(Guid id) => _provider.GetRequiredService<ILoadSagaRepository<InferenceState>>().Load(id)!;

    /// <summary>True if no message of <typeparamref name="T"/> for <paramref name="id"/> was sent.</summary>
    public async Task<bool> NothingSent<T>(Guid id, Func<T, Guid> correlation)
        where T : class
    {
        await Harness.InactivityTask;
        return !Harness.Sent.Select<T>(x => correlation(x.Context.Message) == id).Any();
    }
}
