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

    public DbSagaRepositoryContext(DbContext db, ConsumeContext<TMessage> consumeContext,
        ISagaConsumeContextFactory<DbContext, TSaga> factory)
        : base(consumeContext, db)
    {
        _db = db;
        _consumeContext = consumeContext;
        _factory = factory;
    }

    // The state machine may save several instances of one query concurrently; a DbContext takes one call at a time.
    private readonly SemaphoreSlim _saving = new(1);

    public void Dispose() => _saving.Dispose();

    public Task<SagaConsumeContext<TSaga, TMessage>> Add(TSaga instance) =>
        _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Add);

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

        return await _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Insert).ConfigureAwait(false);
    }

    public async Task<SagaConsumeContext<TSaga, TMessage>> Load(Guid correlationId)
    {
        var instance = await SagaRowLock.Load<TSaga>(_db, correlationId, CancellationToken).ConfigureAwait(false);
        return instance is null
            ? default!
            : await _factory.CreateSagaConsumeContext(_db, _consumeContext, instance, SagaConsumeContextMode.Load).ConfigureAwait(false);
    }

    public Task Save(SagaConsumeContext<TSaga> context) =>
        Saving(context.CancellationToken, async () => await _db.Set<TSaga>().AddAsync(context.Saga, CancellationToken).ConfigureAwait(false));

    public Task Update(SagaConsumeContext<TSaga> context) =>
        Saving(context.CancellationToken, () =>
        {
            // Only a real change is written; an ignored redelivery leaves the row (and its version) alone.
            var entry = _db.Entry(context.Saga);
            entry.DetectChanges();
            if (entry.State == EntityState.Modified && context.Saga is IVersionedSaga versioned)
                versioned.Version++;
            return Task.CompletedTask;
        });

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
        where T : class =>
        _factory.CreateSagaConsumeContext(_db, consumeContext, instance, mode);

    private async Task Saving(CancellationToken cancellationToken, Func<Task> change)
    {
        await _saving.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await change().ConfigureAwait(false);
            await _db.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _saving.Release();
        }
    }
}
