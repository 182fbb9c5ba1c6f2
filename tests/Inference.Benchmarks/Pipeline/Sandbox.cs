using System.Globalization;
using System.Security.Cryptography;
using Inference.Benchmarks.Services;
using Npgsql;
using StackExchange.Redis;

namespace Inference.Benchmarks.Pipeline;

/// <summary>
/// A database, a RabbitMQ virtual host and a Redis key prefix of the run's own on the shared test services, all named
/// after the run and all removed when it is disposed, so that runs leave nothing behind and never meet other runs' or
/// the tests' data.
/// </summary>
internal sealed class Sandbox : IAsyncDisposable
{
    private readonly ServiceAddresses _services;
    private readonly RabbitMqManagement _rabbit;
    private readonly IConnectionMultiplexer _redis;

    private Sandbox(ServiceAddresses services, RabbitMqManagement rabbit, IConnectionMultiplexer redis, string name)
    {
        _services = services;
        _rabbit = rabbit;
        _redis = redis;
        Name = name;
        PostgresConnectionString = new NpgsqlConnectionStringBuilder(services.Postgres) { Database = name }.ConnectionString;
        RabbitMq = new UriBuilder(services.RabbitMq) { Path = "/" + name }.Uri;
        ApiKey = "bench_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
    }

    /// <summary>The database's, the virtual host's and the key prefix's name.</summary>
    public string Name { get; }

    public string PostgresConnectionString { get; }

    public Uri RabbitMq { get; }

    public string RedisConfiguration => _services.Redis;

    /// <summary>The key of the <c>dev</c> tenant, which the roles seed from <c>Dev:ApiKey</c>.</summary>
    public string ApiKey { get; }

    /// <summary>The Redis key of a request's quota reservation (layout documented on RedisQuotaLedger).</summary>
    public RedisKey ReservationKey(Guid inferenceId) =>
        $"{Name}:quota:{{dev}}:reservation:{inferenceId.ToString("D", CultureInfo.InvariantCulture)}";

    public static async Task<Sandbox> CreateAsync(
        ServiceAddresses services, RabbitMqManagement rabbit, IConnectionMultiplexer redis, CancellationToken cancellationToken,
        string benchmark = "pipeline")
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"bench_{benchmark}_{DateTime.UtcNow:yyyyMMddHHmmss}_{Environment.ProcessId}");
        var sandbox = new Sandbox(services, rabbit, redis, name);
        try
        {
            await using (var connection = new NpgsqlConnection(services.Postgres))
            {
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
                await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await rabbit.CreateVirtualHostAsync(name, cancellationToken).ConfigureAwait(false);
            return sandbox;
        }
        catch
        {
            await sandbox.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Removes all three; each is attempted even if another fails, and failures are reported, not thrown.</summary>
    public async ValueTask DisposeAsync()
    {
        // Not the run's token: a cancelled run must still clean up.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Attempt("drop database", async () =>
        {
            await using var connection = new NpgsqlConnection(_services.Postgres);
            await connection.OpenAsync(timeout.Token).ConfigureAwait(false);
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync(timeout.Token).ConfigureAwait(false);
        }).ConfigureAwait(false);
        await Attempt("delete virtual host", () => _rabbit.DeleteVirtualHostAsync(Name, timeout.Token)).ConfigureAwait(false);
        await Attempt("delete Redis keys", async () =>
        {
            var database = _redis.GetDatabase();
            foreach (var endpoint in _redis.GetEndPoints())
            {
                var keys = new List<RedisKey>();
                await foreach (var key in _redis.GetServer(endpoint).KeysAsync(pattern: $"{Name}:*", pageSize: 1000).WithCancellation(timeout.Token))
                    keys.Add(key);
                foreach (var chunk in keys.Chunk(1000))
                    await database.KeyDeleteAsync(chunk).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
    }

    private async Task Attempt(string what, Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // Clean-up reports what it could not remove and goes on with the rest.
            await Console.Error.WriteLineAsync($"warning: could not {what} of {Name}: {exception.Message}").ConfigureAwait(false);
        }
    }
}
