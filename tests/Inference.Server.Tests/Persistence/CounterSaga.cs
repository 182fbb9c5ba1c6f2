using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Tests.Persistence;

/// <summary>A test-only saga small enough that every repository path can be driven on purpose.</summary>
public sealed class CounterState : SagaStateMachineInstance
{
    public Guid CorrelationId { get; set; }

    public string CurrentState { get; set; } = null!;

    public string Label { get; set; } = "";

    public int Count { get; set; }

    public int Version { get; set; }
}

public sealed record StartCounter(Guid CounterId, string Label);

/// <summary>Creates the counter through the repository's Insert: the row is written before the machine runs.</summary>
public sealed record StartCounterEagerly(Guid CounterId, string Label);

public sealed record CounterStarted(Guid CounterId);

public sealed record Increment(Guid CounterId);

/// <summary>Correlated by query: every counter with the label counts one.</summary>
public sealed record IncrementLabelled(string Label);

/// <summary>Changes the instance in memory, but its event is read-only, so nothing may be written.</summary>
public sealed record Peek(Guid CounterId);

/// <summary>Changes the instance and publishes, then throws: nothing of it may survive.</summary>
public sealed record Explode(Guid CounterId);

public sealed record CounterExploding(Guid CounterId);

/// <summary>Holds the saga's transaction open until the test lets go of <see cref="CounterGate"/>.</summary>
public sealed record Hold(Guid CounterId);

public sealed record Finish(Guid CounterId);

/// <summary>Where a <see cref="Hold"/> waits: the test sees it arrive inside the transaction and decides when it ends.</summary>
public sealed class CounterGate
{
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Entered => _entered.Task;

    public void Release() => _released.TrySetResult();

    internal Task Pass()
    {
        _entered.TrySetResult();
        return _released.Task;
    }
}

public sealed class CounterExplodedException(string message) : Exception(message);

public sealed class CounterStateMachine : MassTransitStateMachine<CounterState>
{
    public CounterStateMachine(CounterGate gate)
    {
        InstanceState(x => x.CurrentState);

        Event(() => Start, e => e.CorrelateById(m => m.Message.CounterId));
        Event(() => StartEagerly, e =>
        {
            e.CorrelateById(m => m.Message.CounterId);
            e.InsertOnInitial = true;
            e.SetSagaFactory(m => new CounterState
            {
                CorrelationId = m.Message.CounterId,
                CurrentState = Initial.Name,
                Label = m.Message.Label,
            });
        });
        Event(() => Increment, e => Existing(e.CorrelateById(m => m.Message.CounterId)));
        Event(() => Explode, e => Existing(e.CorrelateById(m => m.Message.CounterId)));
        Event(() => Hold, e => Existing(e.CorrelateById(m => m.Message.CounterId)));
        Event(() => Finish, e => Existing(e.CorrelateById(m => m.Message.CounterId)));
        Event(() => Peek, e =>
        {
            Existing(e.CorrelateById(m => m.Message.CounterId));
            e.ReadOnly = true;
        });
        Event(() => IncrementLabelled, e =>
        {
            e.CorrelateBy((counter, m) => counter.Label == m.Message.Label);
            e.OnMissingInstance(m => m.Discard());
        });

        Initially(
            When(Start)
                .Then(context => context.Saga.Label = context.Message.Label)
                .Publish(context => new CounterStarted(context.Saga.CorrelationId))
                .TransitionTo(Counting),
            When(StartEagerly)
                .Publish(context => new CounterStarted(context.Saga.CorrelationId))
                .TransitionTo(Counting));

        During(Counting,
            Ignore(Start),
            Ignore(StartEagerly),
            When(Increment).Then(context => context.Saga.Count++),
            When(IncrementLabelled).Then(context => context.Saga.Count++),
            When(Peek).Then(context => context.Saga.Count += 500),
            When(Explode)
                .Then(context => context.Saga.Count += 1000)
                .Publish(context => new CounterExploding(context.Saga.CorrelationId))
                .Then(context => throw new CounterExplodedException($"Counter {context.Saga.CorrelationId} exploded.")),
            When(Hold)
                .Then(context => context.Saga.Count++)
                .ThenAsync(_ => gate.Pass()),
            When(Finish).Finalize());

        SetCompletedWhenFinalized();
    }

    public State Counting { get; private set; } = null!;

    public Event<StartCounter> Start { get; private set; } = null!;

    public Event<StartCounterEagerly> StartEagerly { get; private set; } = null!;

    public Event<Increment> Increment { get; private set; } = null!;

    public Event<IncrementLabelled> IncrementLabelled { get; private set; } = null!;

    public Event<Peek> Peek { get; private set; } = null!;

    public Event<Explode> Explode { get; private set; } = null!;

    public Event<Hold> Hold { get; private set; } = null!;

    public Event<Finish> Finish { get; private set; } = null!;

    private static void Existing<TMessage>(IEventCorrelationConfigurator<CounterState, TMessage> correlation)
        where TMessage : class =>
        correlation.OnMissingInstance(m => m.Fault());
}

/// <summary>
/// The same pipeline shape as the inference saga's definition (retry outside, in-memory outbox inside, the repository's
/// transaction innermost), with shorter intervals so that a spec that exhausts them stays quick, and every retry counted.
/// </summary>
public sealed class CounterStateDefinition : SagaDefinition<CounterState>
{
    private readonly RetryLog _retries;

    public CounterStateDefinition(RetryLog retries)
    {
        _retries = retries;
        EndpointName = "counter-saga";
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator,
        ISagaConfigurator<CounterState> sagaConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(retry =>
        {
            retry.Intervals(10, 25, 50, 100, 200);
            retry.ConnectRetryObserver(_retries);
        });
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}

/// <summary>The counter's own table, next to the platform's schema in the test database.</summary>
public sealed class CounterDbContext(DbContextOptions<CounterDbContext> options) : DbContext(options)
{
    public DbSet<CounterState> Counters => Set<CounterState>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<CounterState>(counter =>
        {
            counter.ToTable("test_counter_sagas");
            counter.HasKey(x => x.CorrelationId);
            counter.Property(x => x.CorrelationId).HasColumnName("correlation_id").ValueGeneratedNever();
            counter.Property(x => x.CurrentState).HasColumnName("current_state").HasMaxLength(32);
            counter.Property(x => x.Label).HasColumnName("label").HasMaxLength(64);
            counter.Property(x => x.Count).HasColumnName("count");
            counter.Property(x => x.Version).HasColumnName("version").IsConcurrencyToken();
            counter.HasIndex(x => x.Label);
        });
    }
}
