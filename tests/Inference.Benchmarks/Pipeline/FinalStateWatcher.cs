using System.Collections.Concurrent;
using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;

namespace Inference.Benchmarks.Pipeline;

/// <summary>
/// Learns that requests ended by reading their saga rows, one query every few milliseconds for the final rows among
/// those still pending, instead of polling the API (which would add its own requests to what is measured).
/// </summary>
/// <remarks>
/// It has one connection, so its cost can be taken out of the figures exactly: <see cref="BackendPid"/> is the
/// PostgreSQL process whose CPU time is not the pipeline's, and <see cref="Transactions"/> the commits that are not.
/// </remarks>
internal sealed class FinalStateWatcher : IAsyncDisposable
{
    private const string FinalRows = """
        SELECT correlation_id, current_state, updated_at, error_code FROM inference_sagas
        WHERE correlation_id = ANY(@ids) AND current_state IN ('Completed', 'Failed', 'Canceled')
        """;

    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlCommand _query;
    private readonly long _intervalTicks;
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<FinalState>> _pending = new();
    private CancellationTokenSource? _running;
    private Task? _loop;
    private long _transactions;

    private FinalStateWatcher(NpgsqlConnection connection, TimeSpan interval, int backendPid)
    {
        _connection = connection;
        _intervalTicks = (long)(interval.TotalSeconds * Stopwatch.Frequency);
        BackendPid = backendPid;
        _query = new NpgsqlCommand(FinalRows, connection);
        _query.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid));
    }

    /// <summary>The PostgreSQL backend serving the watcher's connection.</summary>
    public int BackendPid { get; }

    /// <summary>Transactions the watcher has committed (each query is one), for subtraction from the database's count.</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    public static async Task<FinalStateWatcher> OpenAsync(string connectionString, TimeSpan interval, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            // Not counted in Transactions: it runs before any counter is read.
            var pid = connection.ProcessID;
            var watcher = new FinalStateWatcher(connection, interval, pid);
            await watcher._query.PrepareAsync(cancellationToken).ConfigureAwait(false);
            return watcher;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Completes when <paramref name="inferenceId"/> is found in a final state.</summary>
    public Task<FinalState> WaitForFinalAsync(Guid inferenceId) =>
        _pending.GetOrAdd(inferenceId, _ => new TaskCompletionSource<FinalState>(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Starts querying, at the interval, whether or not anything is pending, so that its cost is steady.</summary>
    public void Start()
    {
        if (_loop is not null)
            throw new InvalidOperationException("The watcher is already running.");
        _running = new CancellationTokenSource();
        var stop = _running.Token;
        // A thread of its own with blocking calls: on the thread pool, every tick and every reply would wake a pool
        // thread, which costs this process more than the query itself, on the two cores the pipeline needs.
        _loop = Task.Factory.StartNew(() => Watch(stop), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>
    /// Stops querying and makes PostgreSQL publish the watcher's statistics now. A backend otherwise holds back up to
    /// a second of its counts, and, once idle, publishes them only after 10 s.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_loop is null || _running is null)
            return;

        await _running.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _running.Dispose();
        _running = null;
        _loop = null;
        await using var flush = new NpgsqlCommand("SELECT pg_stat_force_next_flush()", _connection);
        await flush.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _transactions);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _query.DisposeAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    private void Watch(CancellationToken stop)
    {
        var next = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            // Never cancelled mid-query: Npgsql would cancel it through a new connection, a process PostgreSQL forks and
            // whose time would count as the pipeline's.
            _query.Parameters[0].Value = _pending.Keys.ToArray();
            using (var reader = _query.ExecuteReader())
            {
                while (reader.Read())
                {
                    var final = new FinalState(reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2), reader.IsDBNull(3) ? null : reader.GetString(3));
                    if (_pending.TryRemove(reader.GetGuid(0), out var waiter))
                        waiter.SetResult(final);
                }
            }

            Interlocked.Increment(ref _transactions);
            // A steady rate, whatever the query took; after a stall, resume from now rather than catch up.
            next = Math.Max(next + _intervalTicks, Stopwatch.GetTimestamp());
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
            if (wait > TimeSpan.Zero)
                stop.WaitHandle.WaitOne(wait);
        }
    }
}

/// <summary>How a request ended.</summary>
/// <param name="State">Completed, Failed or Canceled.</param>
/// <param name="UpdatedAt">When the saga entered that state, by the orchestrator's clock (this machine's).</param>
/// <param name="ErrorCode">Why it failed, if it did.</param>
internal sealed record FinalState(string State, DateTimeOffset UpdatedAt, string? ErrorCode);
