using MassTransit;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Persistence.Sagas;

/// <summary>
/// Creates, per message, the repository context the saga pipeline works in: one database transaction around load,
/// state machine and save. Resolved from the message's scope, so each delivery attempt gets a fresh DbContext.
/// </summary>
internal sealed class SagaRepositoryContextFactory<TSaga, TDbContext>(
    TDbContext db,
    ISagaConsumeContextFactory<DbContext, TSaga> consumeContextFactory) :
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

    public Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<TSaga, T>> next)
        where T : class =>
        InTransaction(context.CancellationToken, async () =>
        {
            using var repositoryContext = new DbSagaRepositoryContext<TSaga, T>(db, context, consumeContextFactory);
            await next.Send(repositoryContext).ConfigureAwait(false);
        });

    public Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<TSaga> query, IPipe<SagaRepositoryQueryContext<TSaga, T>> next)
        where T : class =>
        InTransaction(context.CancellationToken, async () =>
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

            using var repositoryContext = new DbSagaRepositoryContext<TSaga, T>(db, context, consumeContextFactory);
            await next.Send(new LoadedSagaRepositoryQueryContext<TSaga, T>(repositoryContext, instances)).ConfigureAwait(false);
        });

    public Task<T> Execute<T>(Func<LoadSagaRepositoryContext<TSaga>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlySagaRepositoryContext<TSaga>(db, cancellationToken));

    public Task<T> Execute<T>(Func<QuerySagaRepositoryContext<TSaga>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlySagaRepositoryContext<TSaga>(db, cancellationToken));

    private async Task InTransaction(CancellationToken cancellationToken, Func<Task> work)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(SagaRowLock.IsolationLevel(db), cancellationToken)
            .ConfigureAwait(false);
        try
        {
            await work().ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Each retry gets a fresh scope and context; clearing is a safety net should a caller ever share one.
            db.ChangeTracker.Clear();
            throw;
        }
    }
}
