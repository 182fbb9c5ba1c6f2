using System.Diagnostics;
using System.Globalization;
using Inference.Benchmarks.Services;
using Npgsql;
using StackExchange.Redis;

namespace Inference.Benchmarks.Measurement;

/// <summary>
/// Reads the services' own counters (PostgreSQL commits, RabbitMQ messages, Redis commands), and finds the services'
/// processes on this machine.
/// </summary>
/// <remarks>
/// Its PostgreSQL connection is to the server's maintenance database, not the run's, so that its reads never count
/// among the run's commits. It is idle between reads, which are taken outside the CPU windows.
/// </remarks>
internal sealed class ServiceCounters : IAsyncDisposable
{
    private readonly NpgsqlConnection _postgres;
    private readonly RabbitMqManagement _rabbit;
    private readonly IServer _redis;
    private long _ownRedisCommands;

    private ServiceCounters(NpgsqlConnection postgres, RabbitMqManagement rabbit, IServer redis)
    {
        _postgres = postgres;
        _rabbit = rabbit;
        _redis = redis;
    }

    /// <summary>The PostgreSQL postmaster, parent of every server process; null if the server is not on this machine.</summary>
    public int? PostmasterPid { get; private set; }

    /// <summary>The RabbitMQ node's beam.smp; null if the broker is not on this machine.</summary>
    public int? RabbitMqPid { get; private set; }

    public int? RedisPid { get; private set; }

    /// <summary>The services' versions, for the report: figures from different versions do not compare.</summary>
    public IReadOnlyDictionary<string, string> Versions { get; private set; } = new Dictionary<string, string>();

    public static async Task<ServiceCounters> OpenAsync(
        ServiceAddresses services, RabbitMqManagement rabbit, IConnectionMultiplexer redis, CancellationToken cancellationToken)
    {
        var postgres = new NpgsqlConnection(services.Postgres);
        await postgres.OpenAsync(cancellationToken).ConfigureAwait(false);
        var counters = new ServiceCounters(postgres, rabbit, redis.GetServer(redis.GetEndPoints()[0]));
        try
        {
            await counters.FindServicesAsync(cancellationToken).ConfigureAwait(false);
            return counters;
        }
        catch
        {
            await counters.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Counts Redis commands this program sends, which are not the pipeline's.</summary>
    public void CountOwnRedisCommands(int commands) => Interlocked.Add(ref _ownRedisCommands, commands);

    /// <param name="watcherTransactions">The watcher's transactions so far; it must be stopped, so that they are all counted by the database too.</param>
    /// <param name="cancellationToken">Cancels the reading.</param>
    public async Task<CounterSnapshot> ReadAsync(long watcherTransactions, CancellationToken cancellationToken)
    {
        var commits = new Dictionary<string, long>(StringComparer.Ordinal);
        await using (var query = new NpgsqlCommand("SELECT datname, xact_commit FROM pg_stat_database WHERE datname IS NOT NULL", _postgres))
        await using (var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                commits[reader.GetString(0)] = reader.GetInt64(1);
        }

        var traffic = await _rabbit.ReadTrafficAsync(cancellationToken).ConfigureAwait(false);
        // INFO reports the commands processed before it; it counts itself only in the next reading.
        var ownBefore = Interlocked.Read(ref _ownRedisCommands);
        var redisCommands = long.Parse((await InfoAsync("stats").ConfigureAwait(false))["total_commands_processed"], CultureInfo.InvariantCulture);
        return new CounterSnapshot(Stopwatch.GetTimestamp(), commits, traffic, redisCommands, ownBefore, watcherTransactions);
    }

    public async ValueTask DisposeAsync() => await _postgres.DisposeAsync().ConfigureAwait(false);

    private async Task FindServicesAsync(CancellationToken cancellationToken)
    {
        var versions = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var version = new NpgsqlCommand("SHOW server_version", _postgres))
            versions["postgresql"] = (string)(await version.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        // The backend serving this connection is a child of the postmaster.
        PostmasterPid = LocalProcess(_postgres.ProcessID, "postgres") is { } backend ? LocalProcess(backend.ParentPid, "postgres")?.Pid : null;

        var (rabbitPid, rabbitVersion) = await _rabbit.ReadNodeAsync(cancellationToken).ConfigureAwait(false);
        versions["rabbitmq"] = rabbitVersion;
        RabbitMqPid = rabbitPid is { } pid ? LocalProcess(pid, "beam")?.Pid : null;

        var server = await InfoAsync("server").ConfigureAwait(false);
        versions["redis"] = server["redis_version"];
        RedisPid = int.TryParse(server["process_id"], CultureInfo.InvariantCulture, out var redisPid) ? LocalProcess(redisPid, "redis")?.Pid : null;
        Versions = versions;
    }

    /// <summary>The process, if it runs here under the expected name: a service elsewhere (or in a container) has a pid that means nothing here.</summary>
    private static ProcessTimes? LocalProcess(int pid, string namePrefix) =>
        ProcFs.Read(pid) is { } process && process.Name.StartsWith(namePrefix, StringComparison.Ordinal) ? process : null;

    private async Task<IReadOnlyDictionary<string, string>> InfoAsync(string section)
    {
        var info = await _redis.InfoAsync(section).ConfigureAwait(false);
        CountOwnRedisCommands(1);
        return info.SelectMany(group => group).ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal);
    }
}

/// <summary>The services' cumulative counters at one moment.</summary>
/// <param name="Timestamp">When they were read, as a <see cref="Stopwatch"/> timestamp.</param>
/// <param name="Commits">Committed transactions per database (pg_stat_database.xact_commit).</param>
/// <param name="Traffic">Messages per RabbitMQ virtual host.</param>
/// <param name="RedisCommands">Commands Redis has processed, from every client.</param>
/// <param name="OwnRedisCommands">Of those, the ones this program sent before this reading.</param>
/// <param name="WatcherTransactions">Transactions the watcher had committed.</param>
internal sealed record CounterSnapshot(
    long Timestamp,
    IReadOnlyDictionary<string, long> Commits,
    IReadOnlyDictionary<string, VirtualHostTraffic> Traffic,
    long RedisCommands,
    long OwnRedisCommands,
    long WatcherTransactions)
{
    public double SecondsSince(CounterSnapshot start) => Stopwatch.GetElapsedTime(start.Timestamp, Timestamp).TotalSeconds;
}
