using Inference.Server.Persistence;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Tests.Persistence;

/// <summary>
/// EF Core locks a SQLite database for migrating with a row in <c>__EFMigrationsLock</c>, which only the process that
/// inserted it deletes. A process killed while migrating (<c>kill -9</c>, a container stopped mid-start) leaves the row,
/// and without more every later start waits for it for ever. A process that is still migrating must be waited for.
/// </summary>
public sealed class When_the_embedded_server_finds_a_migration_lock : IDisposable
{
    /// <summary>Far above a start on SQLite (seconds), far below "for ever".</summary>
    private static readonly TimeSpan StartPatience = TimeSpan.FromSeconds(60);

    private readonly string _directory = Directory.CreateTempSubdirectory("inference-migration-lock-").FullName;

    private string SqlitePath => Path.Combine(_directory, "inference.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Should_remove_the_one_a_killed_process_left_start_and_serve_requests()
    {
        var settings = new Dictionary<string, string?> { ["Database:SqlitePath"] = SqlitePath };
        await using (var previous = new InferenceAppFactory(settings))
            _ = previous.Services;

        // The first start migrated, which leaves EF Core's lock table in place; a process killed inside MigrateAsync
        // also leaves its row in it, committed.
        Assert.Equal(1, await ExecuteAsync("""INSERT INTO "__EFMigrationsLock" ("Id", "Timestamp") VALUES (1, '2026-01-01 00:00:00+00:00')"""));

        // A start that hangs is never disposed: disposing it would hang the test run as well.
        var next = new InferenceAppFactory(settings);
        var started = Task.Run(() => next.Services);
        var first = await Task.WhenAny(started, Task.Delay(StartPatience));
        Assert.True(first == started, $"The start still waited for the lock row after {StartPatience.TotalSeconds} s.");
        await started;
        Assert.Equal(0, await LockRowsAsync());

        await using (next)
        {
            using var client = next.CreateDevClient();
            await client.CompleteAsync("The start went through.");
        }
    }

    [Fact]
    public async Task Should_wait_for_a_process_that_is_still_migrating()
    {
        await using (var previous = new InferenceAppFactory(new Dictionary<string, string?> { ["Database:SqlitePath"] = SqlitePath }))
            _ = previous.Services;

        // Another process that is migrating right now holds the file lock and EF Core's row: neither may be taken from it.
        var logs = new CapturedLogs();
        await using var db = new SqliteInferenceDbContext(
            new DbContextOptionsBuilder<SqliteInferenceDbContext>().UseSqlite($"Data Source={SqlitePath}").Options);
        Task migrated;
        await using (new FileStream(SqlitePath + ".migrations.lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            await ExecuteAsync("""INSERT INTO "__EFMigrationsLock" ("Id", "Timestamp") VALUES (1, '2026-01-01 00:00:00+00:00')""");
            migrated = PersistenceExtensions.MigrateAsync(db, logs.CreateLogger("migrations"), CancellationToken.None);

            await Poll.UntilAsync(() => logs.Entries.Any(e => e.Message.StartsWith("Waiting for another process", StringComparison.Ordinal)),
                "the start to wait for the process that holds the lock");
            Assert.False(migrated.IsCompleted);
            Assert.Equal(1, await LockRowsAsync());

            // That process finishes: EF Core deletes its row, the OS releases its file.
            await ExecuteAsync("""DELETE FROM "__EFMigrationsLock" """);
        }

        await migrated.WaitAsync(Poll.Deadline);
        Assert.DoesNotContain(logs.Entries, e => e.Message.StartsWith("Removed the migration lock", StringComparison.Ordinal));
        Assert.Equal(0, await LockRowsAsync());
    }

    private async Task<long> LockRowsAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={SqlitePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """SELECT COUNT(*) FROM "__EFMigrationsLock" """;
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>As another process would: a connection of its own, not pooled, so that nothing of it stays open.</summary>
    private async Task<int> ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={SqlitePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteNonQueryAsync();
    }
}
