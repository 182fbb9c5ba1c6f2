using Inference.Server.Persistence;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SQLitePCL;

namespace Inference.Server.Tests.Persistence;

/// <summary>
/// A fresh SQLite file in the temporary folder, connected as the embedded mode connects (pooled, 30 s busy timeout,
/// write-ahead log), deleted afterwards.
/// </summary>
public sealed class SqliteSagaDatabase : SagaDatabase
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"inference_test_{Guid.NewGuid():N}.db");
    private readonly string _connectionString;

    public SqliteSagaDatabase()
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = _path, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    public override string Provider => "SQLite";

    public override void AddTo(IServiceCollection services, Action<DbContextOptionsBuilder>? configure = null)
    {
        services.AddDbContextPool<InferenceDbContext, SqliteInferenceDbContext>(db =>
        {
            db.UseSqlite(_connectionString);
            configure?.Invoke(db);
        });
        services.AddDbContextPool<CounterDbContext>(db =>
        {
            db.UseSqlite(_connectionString);
            configure?.Invoke(db);
        });
    }

    /// <summary>SQLite locks the whole database, not a row: can another connection begin writing at all?</summary>
    public override async Task<bool> IsLockedAsync(Guid counterId)
    {
        await using var connection = new SqliteConnection(
            new SqliteConnectionStringBuilder(_connectionString) { Pooling = false }.ToString());
        await connection.OpenAsync();

        // Straight to SQLite, past Microsoft.Data.Sqlite's wait-and-retry on a busy database: the answer comes at once.
        var result = raw.sqlite3_exec(connection.Handle, "BEGIN IMMEDIATE");
        if (result == raw.SQLITE_BUSY)
            return true;

        Assert.Equal(raw.SQLITE_OK, result);
        Assert.Equal(raw.SQLITE_OK, raw.sqlite3_exec(connection.Handle, "ROLLBACK"));
        return false;
    }

    protected override async Task CreateAsync()
    {
        await using var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync();

        // As PrepareDatabaseAsync does for the embedded mode: readers go on while the saga writes.
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        await command.ExecuteNonQueryAsync();
    }

    public override Task DisposeAsync()
    {
        using (var pooled = new SqliteConnection(_connectionString))
            SqliteConnection.ClearPool(pooled);

        foreach (var file in new[] { _path, _path + "-wal", _path + "-shm" })
            File.Delete(file);

        return Task.CompletedTask;
    }
}
