using Inference.Server.Messaging.Outbox;
using Inference.Orchestration;
using Inference.Server.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Persistence.Sagas;
using Inference.Server.Tests.Orchestration;
using Inference.Server.Tests.Quota;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inference.Server.Tests.Persistence;

/// <summary>
/// A real MassTransit bus on the in-memory transport with two sagas persisted through our EF Core repository: the
/// inference saga with its production definition and transactional outbox, and the test counter (whose context has no
/// outbox, so its messages leave directly). One per test.
/// </summary>
public sealed class SagaBus : IAsyncDisposable
{
    /// <summary>Whole microseconds, the finest PostgreSQL's timestamp columns keep, so stored times compare exactly.</summary>
    private static readonly DateTimeOffset Start = new DateTimeOffset(2031, 5, 17, 10, 15, 20, TimeSpan.Zero).AddTicks(1_234_560);

    private readonly ServiceProvider _provider;
    private readonly IBusControl _bus;

    private SagaBus(ServiceProvider provider)
    {
        _provider = provider;
        _bus = provider.GetRequiredService<IBusControl>();
    }

    /// <summary>The inference saga's clock: stands still unless a spec moves it, so stored times can be compared exactly.</summary>
    public ManualTimeProvider Clock => (ManualTimeProvider)_provider.GetRequiredService<TimeProvider>();

    public MessageLog Messages { get; } = new();

    public RetryLog CounterRetries => _provider.GetRequiredService<RetryLog>();

    public CounterGate Gate => _provider.GetRequiredService<CounterGate>();

    public IServiceProvider Services => _provider;

    /// <param name="database">Where both sagas are stored.</param>
    /// <param name="configure">Options of a spec's own for both database contexts.</param>
    /// <param name="transport">Configuration of a spec's own for the transport, e.g. a send filter.</param>
    public static async Task<SagaBus> StartAsync(
        SagaDatabase database,
        Action<DbContextOptionsBuilder>? configure = null,
        Action<IInMemoryBusFactoryConfigurator>? transport = null)
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<TimeProvider>(new ManualTimeProvider(Start))
            .AddSingleton<RetryLog>()
            .AddSingleton<CounterGate>();
        database.AddTo(services, configure);
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        services.AddTransactionalOutbox(sweep: false);
        services.AddSingleton<ISubmissionGate, ScriptedGate>();
        services.Configure<InferenceSagaEndpointOptions>(options => options.ConfigureRetry = OrchestrationFeature.ConfigureRetry);
        services.Configure<OutboxOptions>(options => options.SendTimeout = TimeSpan.FromSeconds(2));
        services.AddMassTransit(bus =>
        {
            bus.AddSagaStateMachine<InferenceStateMachine, InferenceState, InferenceStateDefinition>()
                .EntityFrameworkRepository<InferenceState, InferenceDbContext>();
            bus.AddSagaStateMachine<CounterStateMachine, CounterState, CounterStateDefinition>()
                .EntityFrameworkRepository<CounterState, CounterDbContext>();
            bus.UsingInMemory((context, configurator) =>
            {
                transport?.Invoke(configurator);
                configurator.ConfigureEndpoints(context);
            });
        });

        var sagaBus = new SagaBus(services.BuildServiceProvider(validateScopes: true));
        sagaBus._bus.ConnectConsumeObserver(sagaBus.Messages);
        sagaBus._bus.ConnectPublishObserver(sagaBus.Messages);
        sagaBus._bus.ConnectSendObserver(sagaBus.Messages);
        using var starting = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await sagaBus._bus.StartAsync(starting.Token);
        return sagaBus;
    }

    public async Task SendAsync<T>(string queue, T message)
        where T : class
    {
        var endpoint = await _bus.GetSendEndpoint(new Uri($"queue:{queue}"));
        await endpoint.Send(message);
    }

    public Task SendToCounterAsync<T>(T message)
        where T : class => SendAsync("counter-saga", message);

    public Task PublishAsync<T>(T message)
        where T : class => _bus.Publish(message);

    /// <summary>One saga row as the repository's read side sees it (untracked, no lock), or null.</summary>
    public Task<TSaga?> LoadAsync<TSaga>(Guid correlationId)
        where TSaga : class, ISaga =>
        _provider.GetRequiredService<ILoadSagaRepository<TSaga>>().Load(correlationId)!;

    /// <summary>What the outbox holds for <paramref name="correlationId"/>, oldest first.</summary>
    public async Task<List<OutboxMessage>> OutboxAsync(Guid correlationId)
    {
        await using var scope = _provider.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Outbox.AsNoTracking()
            .Where(x => x.CorrelationId == correlationId).OrderBy(x => x.Sequence).ToListAsync();
    }

    /// <summary>One sweep of the orchestrator's outbox sweeper, on this bus, after the clock has moved past its wait.</summary>
    public Task<int> SweepOutboxAsync()
    {
        Clock.Advance(_provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<OutboxOptions>>().Value.SweepAfter);
        var sweeper = ActivatorUtilities.CreateInstance<OutboxSweeper>(_provider,
            new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance));
        return sweeper.SweepAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        // A spec that failed while a Hold waited must not leave the bus waiting for it to end.
        Gate.Release();
        using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _bus.StopAsync(stopping.Token);
        await _provider.DisposeAsync();
    }
}
