using Inference.Server.Persistence;
using Inference.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inference.Server.Tests.Persistence;

public sealed class The_migrations
{
    [Fact]
    public void Should_match_the_model_on_postgresql()
    {
        using var db = new PostgresInferenceDbContext(
            new DbContextOptionsBuilder<PostgresInferenceDbContext>().UseNpgsql("Host=unused").Options);

        Assert.False(db.Database.HasPendingModelChanges(), "Run: dotnet ef migrations add <Name> --context PostgresInferenceDbContext");
    }

    [Fact]
    public void Should_match_the_model_on_sqlite()
    {
        using var db = new SqliteInferenceDbContext(
            new DbContextOptionsBuilder<SqliteInferenceDbContext>().UseSqlite("Data Source=:memory:").Options);

        Assert.False(db.Database.HasPendingModelChanges(), "Run: dotnet ef migrations add <Name> --context SqliteInferenceDbContext");
    }

    [Fact]
    public async Task Should_let_several_processes_create_and_migrate_one_postgresql_database_at_once()
    {
        // Not created beforehand: the first process to get there creates it, as a lone MigrateAsync would.
        var database = new TestDatabase();
        var contexts = Enumerable.Range(0, 8).Select(_ => new PostgresInferenceDbContext(
            new DbContextOptionsBuilder<PostgresInferenceDbContext>().UseNpgsql(database.ConnectionString).Options)).ToList();
        try
        {

            await Task.WhenAll(contexts.Select(db => PersistenceExtensions.MigrateAsync(db, NullLogger.Instance, CancellationToken.None)));

            Assert.Empty(await contexts[0].Database.GetPendingMigrationsAsync());
            Assert.Equal(contexts[0].Database.GetMigrations(), await contexts[0].Database.GetAppliedMigrationsAsync());

            // A row written by a previous version, which knows no deadline, gets the default one, not year 1.
            await contexts[0].Database.ExecuteSqlRawAsync(
                "INSERT INTO inference_sagas (correlation_id, current_state, tenant_id, model, input_count, prompt_tokens, " +
                "completion_tokens, reserved_tokens, created_at, updated_at, history, version) " +
                "VALUES (gen_random_uuid(), 'Submitted', 't', 'm', 1, 1, 0, 1, now(), now(), '[]', 0)");
            var deadline = await contexts[0].Inferences.Select(x => x.DeadlineAt).SingleAsync();
            Assert.InRange(deadline - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(11));
        }
        finally
        {
            foreach (var db in contexts)
                await db.DisposeAsync();
            await database.DropAsync();
        }
    }
}
