using Inference.Server.Messaging.Outbox;
using MassTransit;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Persistence.Sagas;

/// <summary>
/// Creates, per message, the repository context the saga pipeline works in: one database transaction around load,
/// state machine and save. Resolved from the message's scope, so each delivery attempt gets a fresh DbContext.
/// </summary>
/// <remarks>
/// When the context maps <see cref="OutboxMessage"/>, the transactional outbox is on: what the state machine sends is
/// captured, written in the same transaction as the saga row, and dispatched after the commit.
/// </remarks>
internal sealed class SagaRepositoryContextFactory<TSaga, TDbContext>(
    TDbContext db,
    ISagaConsumeContextFactory<DbContext, TSaga> consumeContextFactory,
    IServiceProvider services,
    OutboxDispatcher? dispatcher = null,
    TimeProvider? clock = null) :
    ISagaRepositoryContextFactory<TSaga>,
    IQuerySagaRepositoryContextFactory<TSaga>,
    ILoadSagaRepositoryContextFactory<TSaga>
    where TSaga : class, ISaga
    where TDbContext : DbContext
{
    public void Probe(ProbeContext context)
    {
        context.Add("persistence", "entity-framework-core");
        context.Add("provider", db.Database.ProviderName ?? "unknown");
    }

    private readonly bool _outbox = dispatcher is not null && db.Model.FindEntityType(typeof(OutboxMessage)) is not null;

    private readonly ISagaSaveObserver<TSaga>[] _observers = [.. services.GetServices<ISagaSaveObserver<TSaga>>()];

    public Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<TSaga, T>> next)
        where T : class =>
        ReadOnlyEvents.Handles<TSaga, T>(services)
            ? ReadAsync(context, next)
            : InTransaction(context, async (consumeContext, outbox) =>
            {
                using var repositoryContext = new DbSagaRepositoryContext<TSaga, T>(db, consumeContext, consumeContextFactory, outbox,
                    observers: _observers);
                await next.Send(repositoryContext).ConfigureAwait(false);
            });

    /// <summary>
    /// A message the machine handles read-only (a state query): the row as last committed, read without a lock or a
    /// transaction, so a query neither waits for the request's own transitions nor holds them up (on SQLite it would
    /// otherwise take the database's one write lock), and its answer leaves directly.
    /// </summary>
    private async Task ReadAsync<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<TSaga, T>> next)
        where T : class
    {
        using var repositoryContext = new DbSagaRepositoryContext<TSaga, T>(db, context, consumeContextFactory, outbox: null, readOnly: true);
        await next.Send(repositoryContext).ConfigureAwait(false);
    }

    public Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<TSaga> query, IPipe<SagaRepositoryQueryContext<TSaga, T>> next)
        where T : class =>
        InTransaction(context, async (consumeContext, outbox) =>
        {
            var ids = await db.Set<TSaga>().AsNoTracking().Where(query.FilterExpression).OrderBy(x => x.CorrelationId)
                .Select(x => x.CorrelationId).ToListAsync(context.CancellationToken).ConfigureAwait(false);

            // Each match is loaded again under its lock, so a row the filter saw is not changed underneath us. Locks are
            // taken in key order, so that two messages matching overlapping sets cannot deadlock each other.
            var instances = new List<TSaga>(ids.Count);
            foreach (var id in ids)
            {
                if (await SagaRowLock.Load<TSaga>(db, id, context.CancellationToken).ConfigureAwait(false) is { } instance)
                    instances.Add(instance);
            }

            using var repositoryContext = new DbSagaRepositoryContext<TSaga, T>(db, consumeContext, consumeContextFactory, outbox,
                observers: _observers);
            await next.Send(new LoadedSagaRepositoryQueryContext<TSaga, T>(repositoryContext, instances)).ConfigureAwait(false);
        });

    public Task<T> Execute<T>(Func<LoadSagaRepositoryContext<TSaga>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlySagaRepositoryContext<TSaga>(db, cancellationToken));

    public Task<T> Execute<T>(Func<QuerySagaRepositoryContext<TSaga>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlySagaRepositoryContext<TSaga>(db, cancellationToken));

    /// <summary>
    /// Runs one message's work in a transaction. With the outbox, the work sees a consume context whose sends are
    /// captured; whatever it sent is written before the commit and dispatched after it. A dispatch that fails leaves
    /// the messages to the outbox sweeper: the transition is committed and the message is done with.
    /// </summary>
    private async Task InTransaction<T>(ConsumeContext<T> context,
        Func<ConsumeContext<T>, OutboxBuffer?, Task> work)
        where T : class
    {
        var cancellationToken = context.CancellationToken;
        var outbox = _outbox ? new OutboxBuffer(clock ?? TimeProvider.System) : null;
        var consumeContext = outbox is null ? context : new OutboxConsumeContext<T>(context, outbox);

        // One connection for the transaction and the dispatch after it: a pooled connection is reset each time it is
        // taken, a round trip and a commit of its own.
        await db.Database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using (var transaction = await db.Database.BeginTransactionAsync(SagaRowLock.IsolationLevel(db), cancellationToken)
                .ConfigureAwait(false))
            {
                try
                {
                    await work(consumeContext, outbox).ConfigureAwait(false);

                    // Sends made after the repository's last save, if any.
                    if (outbox?.StageInto(db) == true)
                        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    // Each retry gets a fresh scope and context; clearing is a safety net should a caller ever share one.
                    db.ChangeTracker.Clear();
                    throw;
                }
            }

            if (outbox?.HasMessages == true)
                await dispatcher!.TryDispatchAsync(db, outbox.CorrelationId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await db.Database.CloseConnectionAsync().ConfigureAwait(false);
        }
    }
}
