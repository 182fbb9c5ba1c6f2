using Inference.Server.Persistence;
using Inference.Server.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Inference.Server.Tests.Persistence;

/// <summary>A fresh database <c>inference_test_*</c> on the test PostgreSQL, dropped afterwards.</summary>
public sealed class PostgresSagaDatabase : SagaDatabase
{
    private readonly TestDatabase _database = new();

    public override string Provider => "PostgreSQL";

    public override void AddTo(IServiceCollection services, Action<DbContextOptionsBuilder>? configure = null)
    {
        services.AddDbContextPool<InferenceDbContext, PostgresInferenceDbContext>(db =>
        {
            db.UseNpgsql(_database.ConnectionString);
            configure?.Invoke(db);
        });
        services.AddDbContextPool<CounterDbContext>(db =>
        {
            db.UseNpgsql(_database.ConnectionString);
            configure?.Invoke(db);
        });
    }

    public override async Task<bool> IsLockedAsync(Guid counterId)
    {
        await using var connection = new NpgsqlConnection(_database.ConnectionString);
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

    protected override Task CreateAsync() => _database.CreateAsync();

    public override Task DisposeAsync() => _database.DropAsync();
}
