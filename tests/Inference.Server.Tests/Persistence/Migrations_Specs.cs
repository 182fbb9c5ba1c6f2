using Inference.Server.Persistence;
using Inference.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

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
    public async Task Should_let_several_processes_migrate_one_postgresql_database_at_once()
    {
        var database = new TestDatabase();
        await database.CreateAsync();
        try
        {
            var contexts = Enumerable.Range(0, 8).Select(_ => new PostgresInferenceDbContext(
                new DbContextOptionsBuilder<PostgresInferenceDbContext>().UseNpgsql(database.ConnectionString).Options)).ToList();

            await Task.WhenAll(contexts.Select(db => PersistenceExtensions.MigrateAsync(db, CancellationToken.None)));

            Assert.Empty(await contexts[0].Database.GetPendingMigrationsAsync());
            Assert.Equal(contexts[0].Database.GetMigrations(), await contexts[0].Database.GetAppliedMigrationsAsync());
            foreach (var db in contexts)
                await db.DisposeAsync();
        }
        finally
        {
            await database.DropAsync();
        }
    }
}
