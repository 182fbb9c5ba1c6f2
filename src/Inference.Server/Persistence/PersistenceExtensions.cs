using Inference.Server.Hosting;
using Inference.Server.Resilience;
using Inference.Server.Tenants;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Npgsql;
using Polly;
using Polly.Retry;

namespace Inference.Server.Persistence;

public static partial class PersistenceExtensions
{
    /// <summary>PostgreSQL when <c>ConnectionStrings:Postgres</c> is set, otherwise the embedded SQLite file.</summary>
    public static IHostApplicationBuilder AddInferenceDatabase(this IHostApplicationBuilder builder, Infrastructure infrastructure)
    {
        var options = builder.Configuration.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new DatabaseOptions();
        builder.Services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        if (infrastructure.Postgres is { } postgres)
        {
            builder.Services.AddDbContextPool<InferenceDbContext, PostgresInferenceDbContext>(db => db.UseNpgsql(WithoutReset(postgres)));
        }
        else
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.SqlitePath))!);
            var sqlite = new SqliteConnectionStringBuilder { DataSource = options.SqlitePath, Pooling = true, DefaultTimeout = 30 };
            builder.Services.AddDbContextPool<InferenceDbContext, SqliteInferenceDbContext>(db => db.UseSqlite(sqlite.ToString()));
        }

        return builder;
    }

    /// <summary>
    /// Npgsql resets every pooled connection it hands out (<c>DISCARD ALL</c>): a round trip and a transaction of its
    /// own, which was half of all commits per request. Nothing here leaves state on a session (no prepared statements,
    /// temporary tables or settings; the migrations' advisory lock is released before its connection is closed), so
    /// the reset is skipped, unless the connection string says otherwise.
    /// </summary>
    internal static string WithoutReset(string postgres)
    {
        // Npgsql's builder claims every keyword it knows; the plain one tells what the string itself holds.
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = postgres };
        if (given.Keys.Cast<string>().Any(key => key.Replace(" ", string.Empty, StringComparison.Ordinal)
                .Equals("NoResetOnClose", StringComparison.OrdinalIgnoreCase)))
            return postgres;

        return new NpgsqlConnectionStringBuilder(postgres) { NoResetOnClose = true }.ConnectionString;
    }

    /// <summary>Applies migrations when configured (always for SQLite) and seeds the <c>dev</c> tenant when asked to.</summary>
    public static async Task PrepareDatabaseAsync(this WebApplication app)
    {
        // A process started while the database restarts, fails over or is not up yet waits for it (the orchestrator
        // restarted during an outage used to exit at once), within Database:StartupTimeout.
        var options = app.Services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
        var waiting = new ResiliencePipelineBuilder()
            .AddTimeout(options.StartupTimeout)
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(TransientFailures.Is),
                MaxRetryAttempts = int.MaxValue,
                Delay = TimeSpan.FromMilliseconds(500),
                BackoffType = DelayBackoffType.Exponential,
                MaxDelay = TimeSpan.FromSeconds(10),
                OnRetry = retry =>
                {
                    LogWaitingForDatabase(app.Logger, retry.Outcome.Exception, retry.RetryDelay.TotalSeconds);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();

        await waiting.ExecuteAsync(async cancellationToken => await PrepareAsync(app, options, cancellationToken).ConfigureAwait(false),
            app.Lifetime.ApplicationStopping).ConfigureAwait(false);
    }

    private static async Task PrepareAsync(WebApplication app, DatabaseOptions options, CancellationToken cancellationToken)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();

        if (options.ApplyMigrations || db.Database.IsSqlite())
            await MigrateAsync(db, app.Logger, cancellationToken).ConfigureAwait(false);

        if (db.Database.IsSqlite())
        {
            // Write-ahead logging lets readers (GET) proceed while the saga writes.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken).ConfigureAwait(false);
        }

        await scope.ServiceProvider.GetRequiredService<DevTenantSeeder>().SeedAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Applies the pending migrations. On PostgreSQL under a session advisory lock: processes that start together
    /// (several replicas, or every role with <c>Database:ApplyMigrations</c>) migrate one after another, and the later
    /// ones find nothing left to do, instead of running the same DDL at once and failing. On SQLite under an OS file
    /// lock, for the same reason and so that a lock left by a killed process cannot block the start (see
    /// <see cref="SqliteMigrationLock"/>).
    /// </summary>
    internal static async Task MigrateAsync(InferenceDbContext db, ILogger logger, CancellationToken cancellationToken)
    {
        if (db.Database.IsSqlite())
        {
            await SqliteMigrationLock.MigrateAsync(db, logger, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (!db.Database.IsNpgsql())
        {
            await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        // The lock needs a connection to the database, so a missing one is created first, as MigrateAsync would.
        var creator = db.GetService<IRelationalDatabaseCreator>();
        if (!await creator.ExistsAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await creator.CreateAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.DuplicateDatabase)
            {
                // Another process created it a moment ago.
            }
        }

        await db.Database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await db.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_lock({MigrationLockKey})", cancellationToken).ConfigureAwait(false);
            try
            {
                await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await db.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_unlock({MigrationLockKey})", CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The advisory lock taken while migrating; any fixed number, the same in every process.</summary>
    private const long MigrationLockKey = 0x696e666572656e63; // "inferenc"

    [LoggerMessage(Level = LogLevel.Warning, Message = "The database is not reachable yet; trying again in {Seconds:0.#} s (Database:StartupTimeout bounds the wait).")]
    private static partial void LogWaitingForDatabase(ILogger logger, Exception? exception, double seconds);
}
