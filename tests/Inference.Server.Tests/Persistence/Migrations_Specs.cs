using Inference.Server.Persistence;
using Inference.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
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

/// <summary>
/// An upgrade across the plans: a limit of 0 (no limit) becomes NULL, a limit stays, and the usage ledger starts with
/// the completed requests still kept, so a rebuild of the quota windows right after the upgrade knows what was spent.
/// </summary>
public sealed class The_migration_to_plans_and_the_usage_ledger
{
    [Fact]
    public async Task Should_carry_limits_and_completed_requests_over_on_postgresql()
    {
        var database = new TestDatabase();
        await database.CreateAsync();
        try
        {
            await using var db = new PostgresInferenceDbContext(
                new DbContextOptionsBuilder<PostgresInferenceDbContext>().UseNpgsql(database.ConnectionString).Options);
            await UpgradeAsync(db, DateTimeOffset.UtcNow);
        }
        finally
        {
            await database.DropAsync();
        }
    }

    [Fact]
    public async Task Should_carry_limits_and_completed_requests_over_on_sqlite()
    {
        var path = Path.Combine(Path.GetTempPath(), $"migration-{Guid.NewGuid():N}.db");
        try
        {
            await using var db = new SqliteInferenceDbContext(
                new DbContextOptionsBuilder<SqliteInferenceDbContext>().UseSqlite($"Data Source={path};Pooling=False").Options);
            // SQLite keeps times as UTC ticks.
            await UpgradeAsync(db, DateTimeOffset.UtcNow.UtcTicks);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task UpgradeAsync(InferenceDbContext db, object now)
    {
        var migrations = db.Database.GetMigrations().ToList();
        var before = migrations.Last(x => x.EndsWith("_Webhooks", StringComparison.Ordinal));
        var migrator = db.GetInfrastructure().GetRequiredService<Microsoft.EntityFrameworkCore.Migrations.IMigrator>();
        await migrator.MigrateAsync(before);

        var completed = Guid.NewGuid();
        await db.Database.ExecuteSqlRawAsync(
            "INSERT INTO tenants (id, name, tokens_per_minute, tokens_per_day, created_at) VALUES ('unlimited', 'u', 0, 0, {0}), " +
            "('limited', 'l', 20, 1000, {0})", now);
        foreach (var (id, state, prompt) in new[] { (completed, "Completed", 7), (Guid.NewGuid(), "Failed", 0), (Guid.NewGuid(), "Inferring", 0) })
        {
            await db.Database.ExecuteSqlRawAsync(
                "INSERT INTO inference_sagas (correlation_id, current_state, tenant_id, model, input_count, prompt_tokens, completion_tokens, " +
                "reserved_tokens, created_at, updated_at, deadline_at, history, version) " +
                "VALUES ({0}, {1}, 'limited', 'm', 1, {2}, 0, 7, {3}, {3}, {3}, '[]', 0)", id, state, prompt, now);
        }

        await migrator.MigrateAsync();

        var plans = await db.Tenants.AsNoTracking().OrderBy(x => x.Id).Select(x => new { x.Id, x.TokensPerMinute, x.TokensPerDay }).ToListAsync();
        Assert.Equal([("limited", (long?)20, (long?)1000), ("unlimited", null, null)], plans.Select(x => (x.Id, x.TokensPerMinute, x.TokensPerDay)));
        var billed = Assert.Single(await db.UsageRecords.AsNoTracking().ToListAsync());
        Assert.Equal((completed, "limited", 7L, 7L), (billed.InferenceId, billed.TenantId, billed.PromptTokens, billed.TotalTokens));
    }
}
