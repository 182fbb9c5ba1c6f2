using MassTransit;
using MassTransit.Configuration;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Persistence.Sagas;

/// <summary>
/// Registers our EF Core saga repository on MassTransit's public extension points (MassTransit.EntityFrameworkCore
/// is not available to us). Each message runs in one transaction that loads the saga row under a lock, applies the
/// state machine and saves; see <see cref="SagaRowLock"/> for how each database provider locks.
/// </summary>
public static class EntityFrameworkSagaRepository
{
    /// <summary>Persist <typeparamref name="TSaga"/> through <typeparamref name="TDbContext"/>, resolved per message scope.</summary>
    public static ISagaRegistrationConfigurator<TSaga> EntityFrameworkRepository<TSaga, TDbContext>(
        this ISagaRegistrationConfigurator<TSaga> configurator)
        where TSaga : class, ISaga
        where TDbContext : DbContext =>
        configurator.Repository(repository =>
        {
            repository.RegisterLoadSagaRepository<TSaga, SagaRepositoryContextFactory<TSaga, TDbContext>>();
            repository.RegisterQuerySagaRepository<TSaga, SagaRepositoryContextFactory<TSaga, TDbContext>>();
            repository.RegisterSagaRepository<TSaga, DbContext, SagaConsumeContextFactory<DbContext, TSaga>,
                SagaRepositoryContextFactory<TSaga, TDbContext>>();
        });
}
