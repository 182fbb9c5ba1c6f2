using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Persistence;

/// <summary>
/// Migrates a SQLite file under an exclusive OS lock on a side file (<c>&lt;database&gt;.migrations.lock</c>).
/// </summary>
/// <remarks>
/// EF Core (9 and later) locks a SQLite database for migrating with a row in <c>__EFMigrationsLock</c> that only the
/// process that inserted it deletes, and it waits for that row without a timeout. A process killed while migrating
/// leaves the row, and every later start would wait for ever. The OS releases a file lock when its process dies, however
/// it dies, so while this process holds it no other live process is migrating the file, and any lock row is a dead one's:
/// it is deleted before EF Core looks for it. EF Core's own lock is still taken and released as usual inside.
/// </remarks>
internal static partial class SqliteMigrationLock
{
    private static readonly TimeSpan RetryEvery = TimeSpan.FromMilliseconds(100);

    /// <summary>How long to wait quietly before saying that another process holds the lock.</summary>
    private static readonly TimeSpan ReportWaitingAfter = TimeSpan.FromSeconds(5);

    public static async Task MigrateAsync(InferenceDbContext db, ILogger logger, CancellationToken cancellationToken)
    {
        if (DatabaseFile(db) is not { } file)
        {
            // An in-memory database lives and dies with its connection: no other process can have left a row in it.
            await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        await using var fileLock = await AcquireAsync(file + ".migrations.lock", logger, cancellationToken).ConfigureAwait(false);
        var stale = await DeleteLockRowsAsync(db, cancellationToken).ConfigureAwait(false);
        if (stale > 0)
            LogStaleLockRemoved(logger, file);
        await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
    }

    private static string? DatabaseFile(InferenceDbContext db)
    {
        var connection = new SqliteConnectionStringBuilder(db.Database.GetConnectionString());
        if (connection.Mode == SqliteOpenMode.Memory || string.IsNullOrEmpty(connection.DataSource)
            || connection.DataSource.Equals(":memory:", StringComparison.OrdinalIgnoreCase))
            return null;
        return Path.GetFullPath(connection.DataSource);
    }

    private static async Task<FileStream> AcquireAsync(string path, ILogger logger, CancellationToken cancellationToken)
    {
        var waiting = Stopwatch.StartNew();
        var reported = false;
        while (true)
        {
            try
            {
                // FileShare.None is an exclusive lock: flock(2) on Unix, a share mode on Windows. Both are per open file,
                // so two apps in one process exclude each other too. The file is never deleted: a waiter could otherwise
                // lock a file that is already unlinked while a newcomer locks its replacement.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 1, FileOptions.None);
            }
            catch (IOException exception) when (exception.GetType() == typeof(IOException))
            {
                // Held by another process (its subclasses, such as a missing directory, are not worth waiting for).
                if (!reported && waiting.Elapsed > ReportWaitingAfter)
                {
                    LogWaiting(logger, path, exception.Message);
                    reported = true;
                }
            }

            await Task.Delay(RetryEvery, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<int> DeleteLockRowsAsync(InferenceDbContext db, CancellationToken cancellationToken)
    {
        // EF Core creates the table on its first migration; before that there is nothing to delete.
        var tables = await db.Database
            .SqlQuery<int>($"SELECT COUNT(*) AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name = '__EFMigrationsLock'")
            .SingleAsync(cancellationToken).ConfigureAwait(false);
        return tables == 0
            ? 0
            : await db.Database.ExecuteSqlRawAsync("DELETE FROM \"__EFMigrationsLock\"", cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Removed the migration lock of {Database}: a process stopped while migrating it and left the lock behind.")]
    private static partial void LogStaleLockRemoved(ILogger logger, string database);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Waiting for another process to finish migrating; it holds {LockFile} ({Reason}).")]
    private static partial void LogWaiting(ILogger logger, string lockFile, string reason);
}
