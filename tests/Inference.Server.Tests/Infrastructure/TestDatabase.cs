using Npgsql;

namespace Inference.Server.Tests.Infrastructure;

/// <summary>A throwaway PostgreSQL database <c>inference_test_*</c> on the test server, for one test or fixture.</summary>
public sealed class TestDatabase
{
    public string Name { get; } = "inference_test_" + Guid.NewGuid().ToString("N");

    public string ConnectionString =>
        new NpgsqlConnectionStringBuilder(TestServices.Postgres) { Database = Name }.ConnectionString;

    public Task CreateAsync() => AdminAsync($"CREATE DATABASE \"{Name}\"");

    /// <summary>Drops the database even while pooled connections still hold it.</summary>
    public async Task DropAsync()
    {
        await using (var pooled = new NpgsqlConnection(ConnectionString))
            NpgsqlConnection.ClearPool(pooled);
        await AdminAsync($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)");
    }

    private static async Task AdminAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(TestServices.Postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
