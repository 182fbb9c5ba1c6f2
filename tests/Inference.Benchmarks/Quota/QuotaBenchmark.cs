using System.Diagnostics;
using System.Globalization;
using Inference.Benchmarks.Measurement;
using Inference.Benchmarks.Services;
using Inference.Server.Quota;
using StackExchange.Redis;

namespace Inference.Benchmarks.Quota;

/// <summary>
/// The quota ledgers on their own: callers that each reserve and then settle, one after the other, for a fixed time.
/// Reports reservations per second (each one settled too) and the latency of <see cref="IQuotaLedger.ReserveAsync"/>
/// and of <see cref="IQuotaLedger.SettleAsync"/>, timed apart, for the Redis ledger on the test Redis and for the
/// in-process ledger, at several numbers of concurrent callers.
/// </summary>
/// <remarks>
/// The callers share 16 tenants whose plans limit every window far above what a run reaches, so every check runs and
/// none refuses. The Redis ledger writes under a key prefix of its own, deleted at the end.
/// </remarks>
internal sealed class QuotaBenchmark : IBenchmark
{
    private const int Tenants = 16;

    private static readonly QuotaPlan Plan = new()
    {
        RequestsPerMinute = long.MaxValue / 4,
        TokensPerMinute = long.MaxValue / 4,
        TokensPerDay = long.MaxValue / 4,
        TokensPerMonth = long.MaxValue / 4,
        MaxConcurrent = long.MaxValue / 4,
    };

    public string Name => "quota";

    public string Description => "reservations per second and ReserveAsync/SettleAsync latency, Redis and in-process ledgers";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = Options.Parse(args);
        var services = ServiceAddresses.FromEnvironment();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(services.Redis).ConfigureAwait(false);
        var keyPrefix = "bench-quota-" + Guid.NewGuid().ToString("N");
        var quotaOptions = Microsoft.Extensions.Options.Options.Create(new QuotaOptions
        {
            KeyPrefix = keyPrefix,
            // Long enough for the run; the keys are deleted at the end anyway.
            ReservationRetention = TimeSpan.FromMinutes(10),
        });

        var runs = new List<Cell>();
        try
        {
            foreach (var ledgerName in options.Ledgers)
            {
                foreach (var callers in options.Callers)
                {
                    IQuotaLedger ledger = ledgerName switch
                    {
                        "redis" => new RedisQuotaLedger(redis, new NothingBilled(), quotaOptions, TimeProvider.System),
                        "in-process" => new InProcessQuotaLedger(new NothingBilled(), quotaOptions, TimeProvider.System),
                        _ => throw new UsageException($"unknown ledger {ledgerName}: redis or in-process"),
                    };
                    Console.WriteLine($"==> {ledgerName}, {callers} caller(s), {options.Seconds} s");
                    var cell = await MeasureAsync(ledgerName, ledger, callers, TimeSpan.FromSeconds(options.Seconds), cancellationToken)
                        .ConfigureAwait(false);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"    {cell.ReservationsPerSecond:F0} reservations/s; reserve p50 {cell.ReserveP50Ms:F3} ms p99 {cell.ReserveP99Ms:F3} ms; settle p50 {cell.SettleP50Ms:F3} ms p99 {cell.SettleP99Ms:F3} ms"));
                    runs.Add(cell);
                }
            }
        }
        finally
        {
            await DeleteKeysAsync(redis, keyPrefix).ConfigureAwait(false);
        }

        PrintTable(runs);
        var report = new
        {
            benchmark = Name,
            started_at = DateTimeOffset.UtcNow,
            processors = Environment.ProcessorCount,
            seconds_per_cell = options.Seconds,
            tenants = Tenants,
            runs,
        };
        await BenchReport.WriteAsync(options.Output, report, cancellationToken).ConfigureAwait(false);
        Console.WriteLine($"==> {options.Output}");
        return 0;
    }

    private static async Task<Cell> MeasureAsync(
        string ledgerName,
        IQuotaLedger ledger,
        int callers,
        TimeSpan duration,
        CancellationToken cancellationToken)
    {
        // Warm up: the first reservation rebuilds an empty ledger and loads the scripts; JIT runs here too.
        for (var i = 0; i < 200; i++)
            await CycleAsync(ledger, $"bench-tenant-{i % Tenants}", null, null).ConfigureAwait(false);

        var reserveTimes = new List<long>[callers];
        var settleTimes = new List<long>[callers];
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, callers).Select(worker => Task.Run(async () =>
        {
            var reserves = reserveTimes[worker] = new List<long>(1 << 16);
            var settles = settleTimes[worker] = new List<long>(1 << 16);
            var tenant = $"bench-tenant-{worker % Tenants}";
            while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
                await CycleAsync(ledger, tenant, reserves, settles).ConfigureAwait(false);
        }, cancellationToken)).ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
        var elapsed = clock.Elapsed;
        cancellationToken.ThrowIfCancellationRequested();

        var reserveAll = reserveTimes.SelectMany(x => x).Order().ToArray();
        var settleAll = settleTimes.SelectMany(x => x).Order().ToArray();
        return new Cell(
            ledgerName,
            callers,
            reserveAll.Length,
            Math.Round(elapsed.TotalSeconds, 3),
            Math.Round(reserveAll.Length / elapsed.TotalSeconds, 1),
            Milliseconds(Percentile(reserveAll, 0.50)),
            Milliseconds(Percentile(reserveAll, 0.99)),
            Milliseconds(Percentile(settleAll, 0.50)),
            Milliseconds(Percentile(settleAll, 0.99)));
    }

    private static async Task CycleAsync(IQuotaLedger ledger, string tenant, List<long>? reserves, List<long>? settles)
    {
        var id = Guid.NewGuid();
        var started = Stopwatch.GetTimestamp();
        var decision = await ledger.ReserveAsync(new QuotaReservation(tenant, id, 100), Plan).ConfigureAwait(false);
        var reserved = Stopwatch.GetTimestamp();
        if (!decision.IsReserved)
            throw new InvalidOperationException($"The benchmark's plan refused a reservation: {decision.Rejection.Code}.");

        var settlement = await ledger.SettleAsync(tenant, id, 80).ConfigureAwait(false);
        var settled = Stopwatch.GetTimestamp();
        if (!settlement.Applied)
            throw new InvalidOperationException($"A settlement was not applied: {settlement.Outcome}.");

        reserves?.Add(reserved - started);
        settles?.Add(settled - reserved);
    }

    private static long Percentile(long[] sorted, double quantile) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(quantile * sorted.Length) - 1)];

    private static double Milliseconds(long ticks) => Math.Round(ticks * 1_000.0 / Stopwatch.Frequency, 4);

    private static void PrintTable(IReadOnlyList<Cell> cells)
    {
        Console.WriteLine();
        Console.WriteLine("| ledger | callers | reservations/s | reserve p50 | reserve p99 | settle p50 | settle p99 |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var cell in cells)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {cell.Ledger} | {cell.Callers} | {cell.ReservationsPerSecond:F0} | {cell.ReserveP50Ms:F3} ms | {cell.ReserveP99Ms:F3} ms | {cell.SettleP50Ms:F3} ms | {cell.SettleP99Ms:F3} ms |"));
        }

        Console.WriteLine();
    }

    private static async Task DeleteKeysAsync(IConnectionMultiplexer redis, string keyPrefix)
    {
        var database = redis.GetDatabase();
        foreach (var server in redis.GetServers())
        {
            var batch = new List<RedisKey>(1_000);
            await foreach (var key in server.KeysAsync(pattern: keyPrefix + ":*", pageSize: 1_000).ConfigureAwait(false))
            {
                batch.Add(key);
                if (batch.Count == 1_000)
                {
                    await database.KeyDeleteAsync([.. batch]).ConfigureAwait(false);
                    batch.Clear();
                }
            }

            if (batch.Count > 0)
                await database.KeyDeleteAsync([.. batch]).ConfigureAwait(false);
        }
    }

    private sealed record Cell(
        string Ledger,
        int Callers,
        int Reservations,
        double Seconds,
        double ReservationsPerSecond,
        double ReserveP50Ms,
        double ReserveP99Ms,
        double SettleP50Ms,
        double SettleP99Ms);

    /// <summary>The billing record of a platform that has billed nothing: what the ledgers rebuild from here.</summary>
    private sealed class NothingBilled : IQuotaSnapshotSource
    {
        public Task<QuotaSnapshot> ReadAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
            Task.FromResult(new QuotaSnapshot([], []));
    }

    private sealed record Options(string Output, double Seconds, IReadOnlyList<int> Callers, IReadOnlyList<string> Ledgers)
    {
        public static Options Parse(string[] args)
        {
            var output = "artifacts/bench/quota.json";
            var seconds = 10.0;
            IReadOnlyList<int> callers = [1, 16, 64];
            IReadOnlyList<string> ledgers = ["redis", "in-process"];
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--output": output = Value(); break;
                    case "--seconds": seconds = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--callers": callers = [.. Value().Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture))]; break;
                    case "--ledgers": ledgers = [.. Value().Split(',')]; break;
                    default: throw new UsageException($"unknown option {args[i]}");
                }
            }

            return new(output, seconds, callers, ledgers);
        }
    }
}
