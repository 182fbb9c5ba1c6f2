using Inference.Server.Messaging.Outbox;
using MassTransit;
using MassTransit.Context;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Persistence.Sagas;

/// <summary>The saga pipeline's view of one message's transaction: load, add, save, update, delete.</summary>
internal sealed class DbSagaRepositoryContext<TSaga, TMessage> :
    ConsumeContextScope<TMessage>,
    SagaRepositoryContext<TSaga, TMessage>,
    IDisposable
    where TSaga : class, ISaga
    where TMessage : class
{
    private readonly DbContext _db;
    private readonly ConsumeContext<TMessage> _consumeContext;
    private readonly ISagaConsumeContextFactory<DbContext, TSaga> _factory;
    private readonly OutboxBuffer? _outbox;
    private readonly bool _readOnly;
    private readonly ISagaSaveObserver<TSaga>[] _observers;

    /// <param name="db">The message's context, inside its transaction.</param>
    /// <param name="consumeContext">The message; with an outbox, the context that captures its sends.</param>
    /// <param name="factory">MassTransit's saga consume context factory.</param>
    /// <param name="outbox">Where the transition's messages wait until they are written with the saga row; null when the
    /// saga's messages leave directly.</param>
    /// <param name="readOnly">The message only reads the saga: it is loaded untracked and without a lock, and never saved.</param>
    /// <param name="observers">What sees each row before it is saved, to add rows of its own to the same transaction.</param>
    public DbSagaRepositoryContext(DbContext db, ConsumeContext<TMessage> consumeContext,
        ISagaConsumeContextFactory<DbContext, TSaga> factory, OutboxBuffer? outbox, bool readOnly = false,
        ISagaSaveObserver<TSaga>[]? observers = null)
        : base(consumeContext, db)
    {
        _observers = observers ?? [];
        _db = db;
        _consumeContext = consumeContext;
        _factory = factory;
        _outbox = outbox;
        _readOnly = readOnly;
    }

    /// <summary>A saga's <c>int</c> property of this name, mapped as a concurrency token, is bumped on every update.</summary>
    private const string VersionProperty = "Version";

    // The state machine may save several instances of one query concurrently; a DbContext takes one call at a time.
    private readonly SemaphoreSlim _saving = new(1);

    public void Dispose() => _saving.Dispose();

    public Task<SagaConsumeContext<TSaga, TMessage>> Add(TSaga instance)
    {
        _outbox?.Correlate(instance.CorrelationId);
        return _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Add);
    }

    public async Task<SagaConsumeContext<TSaga, TMessage>> Insert(TSaga instance)
    {
        var entry = await _db.Set<TSaga>().AddAsync(instance, CancellationToken).ConfigureAwait(false);
        try
        {
            // EF Core wraps this in a savepoint, so a duplicate key does not abort the surrounding transaction.
            await _db.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            entry.State = EntityState.Detached;
            return default!;
        }

        _outbox?.Correlate(instance.CorrelationId);
        return await _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Insert).ConfigureAwait(false);
    }

    public async Task<SagaConsumeContext<TSaga, TMessage>> Load(Guid correlationId)
    {
        var instance = _readOnly
            ? await _db.Set<TSaga>().AsNoTracking().SingleOrDefaultAsync(x => x.CorrelationId == correlationId, CancellationToken).ConfigureAwait(false)
            : await SagaRowLock.Load<TSaga>(_db, correlationId, CancellationToken).ConfigureAwait(false);

        // Also when there is no row: what the machine answers about a missing request (InferenceNotFound) is written to
        // the outbox under the id that was asked about.
        _outbox?.Correlate(correlationId);
        return instance is null
            ? default!
            : await _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Load).ConfigureAwait(false);
    }

    public Task Save(SagaConsumeContext<TSaga> context) =>
        Saving(context.CancellationToken, async () =>
        {
            await _db.Set<TSaga>().AddAsync(context.Saga, CancellationToken).ConfigureAwait(false);
            await Observe(context.Saga).ConfigureAwait(false);
        });

    public Task Update(SagaConsumeContext<TSaga> context) =>
        Saving(context.CancellationToken, async () =>
        {
            // Only a real change is written; an ignored redelivery leaves the row (and its version) alone.
            var entry = _db.Entry(context.Saga);
            entry.DetectChanges();
            if (entry.State == EntityState.Modified && entry.Metadata.FindProperty(VersionProperty) is { IsConcurrencyToken: true })
            {
                var version = entry.Property<int>(VersionProperty);
                version.CurrentValue++;
            }
            if (entry.State == EntityState.Modified)
                await Observe(context.Saga).ConfigureAwait(false);
        });

    /// <summary>Shows the row, before its save, to what adds rows of its own to the transition's transaction.</summary>
    private async Task Observe(TSaga saga)
    {
        foreach (var observer in _observers)
            await observer.SavingAsync(_db, _db.Entry(saga), CancellationToken).ConfigureAwait(false);
    }

    public Task Delete(SagaConsumeContext<TSaga> context) =>
        Saving(context.CancellationToken, () =>
        {
            _db.Set<TSaga>().Remove(context.Saga);
            return Task.CompletedTask;
        });

    public Task Discard(SagaConsumeContext<TSaga> context) => Task.CompletedTask;

    public Task Undo(SagaConsumeContext<TSaga> context)
    {
        var entry = _db.ChangeTracker.Entries<TSaga>().FirstOrDefault(x => x.Entity.CorrelationId == context.Saga.CorrelationId);
        entry?.State = EntityState.Unchanged;
        return Task.CompletedTask;
    }

    public Task<SagaConsumeContext<TSaga, T>> CreateSagaConsumeContext<T>(ConsumeContext<T> consumeContext, TSaga instance,
        SagaConsumeContextMode mode)
        where T : class
    {
        _outbox?.Correlate(instance.CorrelationId);
        return _factory.CreateSagaConsumeContext(_db, consumeContext, instance, mode);
    }


    private async Task Saving(CancellationToken cancellationToken, Func<Task> change)
    {
        if (_readOnly)
            throw new InvalidOperationException($"{typeof(TMessage).Name} is handled read-only; the saga cannot be saved.");

        await _saving.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await change().ConfigureAwait(false);
            // What the transition sent so far is written by the same save as the row.
            _outbox?.StageInto(_db);
            await _db.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _saving.Release();
        }
    }
}
