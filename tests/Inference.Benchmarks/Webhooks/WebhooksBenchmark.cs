using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Inference.Benchmarks.Measurement;
using Inference.Benchmarks.Pipeline;
using Inference.Benchmarks.Services;
using Npgsql;
using NpgsqlTypes;
using StackExchange.Redis;

namespace Inference.Benchmarks.Webhooks;

/// <summary>
/// Webhook delivery throughput: a burst of due deliveries, written straight into <c>webhook_deliveries</c>, sent by one
/// orchestrator process (the published server) to fast receivers on loopback, until every one is recorded delivered.
/// Reported per number of destinations, since the per-destination bound caps what one receiver gets at once.
/// </summary>
internal sealed class WebhooksBenchmark : IBenchmark
{
    public string Name => "webhooks";

    public string Description => "deliveries per second from one orchestrator to fast loopback receivers";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = Options.Parse(args);
        var services = ServiceAddresses.FromEnvironment();
        using var rabbit = new RabbitMqManagement(services.RabbitMqManagement);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(services.Redis).ConfigureAwait(false);
        await using var sandbox = await Sandbox.CreateAsync(services, rabbit, redis, cancellationToken, "webhooks").ConfigureAwait(false);

        Console.WriteLine($"==> start orchestrator ({sandbox.Name})");
        var environment = new Dictionary<string, string> { ["Webhooks__AllowPrivateNetworks"] = "true" };
        await using var roles = await RoleProcesses.StartAsync(options.Server, sandbox, options.LogDirectory, cancellationToken,
            ["orchestrator"], environment).ConfigureAwait(false);
        using var orchestrator = Process.GetProcessById(roles.Pid("orchestrator"));

        // The body of a completed event with one 384-dimension embedding, about the size a real one has.
        var payload = JsonSerializer.Serialize(new
        {
            type = "inference.completed",
            timestamp = DateTimeOffset.UtcNow,
            data = new { id = Guid.NewGuid(), status = "completed", output = new { embeddings = new[] { Enumerable.Range(0, 384).Select(i => i / 384f).ToArray() } } },
        });

        var runs = new List<object>();
        foreach (var destinations in options.Destinations)
        {
            var receivers = Enumerable.Range(0, destinations).Select(_ => new FastReceiver()).ToList();
            try
            {
                Console.WriteLine($"==> {options.Deliveries} deliveries to {destinations} destination(s)");
                var cpuBefore = orchestrator.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                await InsertAsync(sandbox.PostgresConnectionString, receivers, options.Deliveries, payload, cancellationToken).ConfigureAwait(false);
                var inserted = clock.Elapsed;
                await WaitUntilDeliveredAsync(sandbox.PostgresConnectionString, options.Deliveries, cancellationToken).ConfigureAwait(false);
                var elapsed = clock.Elapsed;
                orchestrator.Refresh();
                var cpu = orchestrator.TotalProcessorTime - cpuBefore;
                var received = receivers.Sum(r => r.Count);
                var duplicates = receivers.Sum(r => r.Received.Values.Count(n => n > 1));
                var perSecond = options.Deliveries / elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    {perSecond:F0} deliveries/s ({elapsed.TotalSeconds:F2} s, of which {inserted.TotalSeconds:F2} s writing the rows); orchestrator CPU {cpu.TotalMilliseconds / options.Deliveries:F3} ms per delivery; received {received}, ids received twice {duplicates}"));
                runs.Add(new
                {
                    destinations,
                    deliveries = options.Deliveries,
                    seconds = Math.Round(elapsed.TotalSeconds, 3),
                    deliveries_per_second = Math.Round(perSecond, 1),
                    orchestrator_cpu_ms_per_delivery = Math.Round(cpu.TotalMilliseconds / options.Deliveries, 4),
                    received,
                    ids_received_twice = duplicates,
                });
                await ClearAsync(sandbox.PostgresConnectionString, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                receivers.ForEach(r => r.Dispose());
            }
        }

        var report = new
        {
            benchmark = Name,
            started_at = DateTimeOffset.UtcNow,
            processors = Environment.ProcessorCount,
            settings = "Webhooks defaults: MaxConcurrentDeliveries 64, MaxConcurrentPerDestination 8, PollInterval 500 ms",
            runs,
        };
        await BenchReport.WriteAsync(options.Output, report, cancellationToken).ConfigureAwait(false);
        Console.WriteLine($"==> {options.Output}");
        return 0;
    }

    /// <summary>Writes the deliveries, all due now, spread over the receivers, in one COPY.</summary>
    private static async Task InsertAsync(string connectionString, IReadOnlyList<FastReceiver> receivers, int count, string payload,
        CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        var now = DateTime.UtcNow;
        await using var copy = await connection.BeginBinaryImportAsync(
            "COPY webhook_deliveries (id, inference_id, tenant_id, event_type, url, destination, payload, status, attempts, next_attempt_at, created_at) FROM STDIN (FORMAT BINARY)",
            cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < count; i++)
        {
            var receiver = receivers[i % receivers.Count];
            await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(Guid.NewGuid(), NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(Guid.NewGuid(), NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync("dev", NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync("inference.completed", NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(receiver.Url, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync($"127.0.0.1:{receiver.Port}", NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(payload, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync("pending", NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(0, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(now, NpgsqlDbType.TimestampTz, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(now, NpgsqlDbType.TimestampTz, cancellationToken).ConfigureAwait(false);
        }

        await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task WaitUntilDeliveredAsync(string connectionString, int count, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM webhook_deliveries WHERE status <> 'pending'", connection);
        var deadline = Stopwatch.StartNew();
        while ((long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! < count)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(10))
                throw new TimeoutException("The deliveries did not all end within 10 minutes.");
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        await using var failed = new NpgsqlCommand("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'", connection);
        if ((long)(await failed.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! > 0)
            throw new InvalidOperationException("Some deliveries failed; the figure would not be of deliveries.");
    }

    private static async Task ClearAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("DELETE FROM webhook_deliveries", connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private sealed record Options(string Server, string Output, string LogDirectory, int Deliveries, IReadOnlyList<int> Destinations)
    {
        public static Options Parse(string[] args)
        {
            string? server = null;
            var output = "artifacts/bench/webhooks.json";
            var deliveries = 5000;
            IReadOnlyList<int> destinations = [1, 8];
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--server": server = Value(); break;
                    case "--output": output = Value(); break;
                    case "--deliveries": deliveries = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--destinations": destinations = [.. Value().Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture))]; break;
                    default: throw new UsageException($"unknown option {args[i]}");
                }
            }

            return new(Path.GetFullPath(server ?? throw new UsageException("--server is required")), output,
                Path.Combine(Path.GetDirectoryName(Path.GetFullPath(output))!, "webhooks-logs"), deliveries, destinations);
        }
    }
}
