using Inference.Server.Persistence;
using Inference.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Inference.Server.Tests.Persistence;

/// <summary>A fresh database <c>inference_test_*</c> on the test PostgreSQL, dropped afterwards.</summary>
public sealed class PostgresSagaDatabase : SagaDatabase
{
    private readonly string _name = "inference_test_" + Guid.NewGuid().ToString("N");
    private readonly string _connectionString;

    public PostgresSagaDatabase()
    {
        _connectionString = new NpgsqlConnectionStringBuilder(TestServices.Postgres) { Database = _name }.ConnectionString;
    }

    public override string Provider => "PostgreSQL";

    public override void AddTo(IServiceCollection services, Action<DbContextOptionsBuilder>? configure = null)
    {
        services.AddDbContextPool<InferenceDbContext, PostgresInferenceDbContext>(db =>
        {
            db.UseNpgsql(_connectionString);
            configure?.Invoke(db);
        });
        services.AddDbContextPool<CounterDbContext>(db =>
        {
            db.UseNpgsql(_connectionString);
            configure?.Invoke(db);
        });
    }

    public override async Task<bool> IsLockedAsync(Guid counterId)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand(
            "SELECT correlation_id FROM test_counter_sagas WHERE correlation_id = @id FOR UPDATE NOWAIT", connection, transaction);
        command.Parameters.AddWithValue("id", counterId);
        try
        {
            Assert.Equal(counterId, await command.ExecuteScalarAsync());
            return false;
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            return true;
        }
    }

    protected override async Task CreateAsync()
    {
        await using var connection = new NpgsqlConnection(TestServices.Postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{_name}\"", connection);
        await command.ExecuteNonQueryAsync();
    }

    public override async Task DisposeAsync()
    {
        await using (var pooled = new NpgsqlConnection(_connectionString))
            NpgsqlConnection.ClearPool(pooled);

        await using var connection = new NpgsqlConnection(TestServices.Postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_name}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
