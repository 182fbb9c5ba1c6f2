using Inference.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Persistence;

/// <summary>
/// A database of its own for one test class: the platform's migrated schema plus the test counter's table, created at
/// the start and removed at the end, so that runs neither see nor leave anything.
/// </summary>
public abstract class SagaDatabase : IAsyncLifetime
{
    public abstract string Provider { get; }

    /// <summary>
    /// Registers both contexts the way the server does: pooled, resolved per message scope; <paramref name="configure"/>
    /// adds options of a spec's own.
    /// </summary>
    public abstract void AddTo(IServiceCollection services, Action<DbContextOptionsBuilder>? configure = null);

    /// <summary>
    /// True when another connection cannot take the counter's row for writing right now, asked without waiting.
    /// </summary>
    public abstract Task<bool> IsLockedAsync(Guid counterId);

    public async Task InitializeAsync()
    {
        await CreateAsync();

        var services = new ServiceCollection();
        AddTo(services);
        await using var provider = services.BuildServiceProvider();
        await using var scope = provider.CreateAsyncScope();

        await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Database.MigrateAsync();
        var counters = scope.ServiceProvider.GetRequiredService<CounterDbContext>();
        await counters.GetService<IRelationalDatabaseCreator>().CreateTablesAsync();
    }

    public abstract Task DisposeAsync();

    protected abstract Task CreateAsync();
}
