using System.Globalization;
using System.Text;
using Inference.Server.Hosting;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Webhooks;

/// <summary>
/// Sends due webhook deliveries, in every orchestrator. Deliveries go out concurrently, at most
/// <see cref="WebhookOptions.MaxConcurrentDeliveries"/> at once and <see cref="WebhookOptions.MaxConcurrentPerDestination"/>
/// to one host and port, so that a receiver that hangs holds a few slots and never the others' deliveries.
/// </summary>
/// <remarks>
/// A dispatcher takes due deliveries by writing a lease on them (<c>lease_until</c>) in one statement, which on PostgreSQL
/// skips rows another dispatcher is taking (<c>FOR UPDATE SKIP LOCKED</c>); SQLite has one writer at a time. So two
/// orchestrators never send one delivery at once, and one that dies mid-attempt leaves its deliveries to the others once
/// the lease runs out. Each attempt's outcome is written under the same lease; an attempt whose outcome was not written
/// (the process died) is made again, so a receiver may see a delivery twice, with the same <c>webhook-id</c>.
/// </remarks>
public sealed partial class WebhookDispatcher(
    IServiceScopeFactory scopes,
    WebhookSender sender,
    IOptions<WebhookOptions> options,
    TimeProvider clock,
    IHostApplicationLifetime lifetime,
    ILogger<WebhookDispatcher> logger) : BackgroundService
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _perDestination = new(StringComparer.Ordinal);
    private readonly HashSet<Task> _inFlight = [];
    private readonly SemaphoreSlim _wake = new(0);

    // Outcomes are written through few connections, however many attempts are in flight.
    private readonly SemaphoreSlim _writers = new(WriterConnections);

    /// <summary>Database connections the dispatcher holds at most: one to take deliveries, the rest to record outcomes.</summary>
    internal const int WriterConnections = 2;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await lifetime.WhenStartedAsync(stoppingToken).ConfigureAwait(false))
            return;

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var full = false;
                try
                {
                    full = await DispatchDueAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    LogDispatchFailed(exception);
                }

                // A full batch suggests more are due; otherwise wait for the next poll or a freed slot.
                if (!full)
                    await _wake.WaitAsync(options.Value.PollInterval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            Task[] running;
            lock (_gate)
                running = [.. _inFlight];
            await Task.WhenAll(running).ConfigureAwait(false);
        }
    }

    /// <summary>Takes as many due deliveries as there are free slots and starts them; true when every slot was filled.</summary>
    internal async Task<bool> DispatchDueAsync(CancellationToken cancellationToken)
    {
        int free;
        string[] busy;
        var settings = options.Value;
        lock (_gate)
        {
            free = settings.MaxConcurrentDeliveries - _inFlight.Count;
            busy = [.. _perDestination.Where(x => x.Value >= settings.MaxConcurrentPerDestination).Select(x => x.Key)];
        }

        if (free <= 0)
            return false;

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        var now = clock.GetUtcNow();
        // Whole milliseconds, which every store keeps exactly: the lease is compared with what was stored.
        var lease = now + settings.Lease;
        lease = lease.AddTicks(-(lease.UtcTicks % TimeSpan.TicksPerMillisecond));
        var claimed = await ClaimAsync(db, free, busy, now, lease, cancellationToken).ConfigureAwait(false);
        if (claimed.Count == 0)
            return false;

        var secrets = await SecretsAsync(db, claimed, cancellationToken).ConfigureAwait(false);
        var giveBack = new List<Guid>();
        foreach (var delivery in claimed.OrderBy(x => x.NextAttemptAt))
        {
            lock (_gate)
            {
                _perDestination.TryGetValue(delivery.Destination, out var count);
                if (count >= settings.MaxConcurrentPerDestination)
                {
                    giveBack.Add(delivery.Id);
                    continue;
                }

                _perDestination[delivery.Destination] = count + 1;
                var task = AttemptAsync(delivery, secrets.GetValueOrDefault(delivery.TenantId) ?? [], cancellationToken);
                _inFlight.Add(task);
                _ = task.ContinueWith(Finished, delivery.Destination, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
        }

        // More for one destination than it may have in flight: left for when it has room, at once, not after the lease.
        if (giveBack.Count > 0)
        {
            await db.WebhookDeliveries.Where(x => giveBack.Contains(x.Id) && x.LeaseUntil == lease)
                .ExecuteUpdateAsync(set => set.SetProperty(x => x.LeaseUntil, (DateTimeOffset?)null), CancellationToken.None)
                .ConfigureAwait(false);
        }

        return claimed.Count == free && giveBack.Count == 0;
    }

    private void Finished(Task task, object? state)
    {
        lock (_gate)
        {
            _inFlight.Remove(task);
            var destination = (string)state!;
            if (--_perDestination[destination] == 0)
                _perDestination.Remove(destination);
        }

        _wake.Release();
    }

    private async Task AttemptAsync(WebhookDelivery delivery, IReadOnlyList<string> secrets, CancellationToken cancellationToken)
    {
        // Off the dispatch loop at once: the loop goes on taking deliveries while this one waits for its receiver.
        await Task.Yield();
        try
        {
            var started = clock.GetUtcNow();
            var attempt = secrets.Count == 0
                ? new WebhookAttempt(null, "The tenant no longer exists; nothing can sign the delivery.", null, Refused: true)
                : await sender.SendAsync(delivery, secrets, started, cancellationToken).ConfigureAwait(false);
            var attempts = delivery.Attempts + 1;
            var now = clock.GetUtcNow();
            var (status, next) = WebhookRetryPolicy.Next(attempt, attempts, now, options.Value);
            if (status == WebhookDeliveryStatus.Failed)
                LogGaveUp(delivery.Id, delivery.InferenceId, attempts, attempt.Error);

            await _writers.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
                var error = attempt.Error is { Length: > WebhookDelivery.MaxErrorLength } long_
                    ? long_[..WebhookDelivery.MaxErrorLength]
                    : attempt.Error;
                var lease = delivery.LeaseUntil;
                // Only under the lease this attempt was made under: if it ran out and another dispatcher took over, that
                // one's record stands.
                await db.WebhookDeliveries.Where(x => x.Id == delivery.Id && x.LeaseUntil == lease)
                    .ExecuteUpdateAsync(set => set
                        .SetProperty(x => x.Status, status)
                        .SetProperty(x => x.Attempts, attempts)
                        .SetProperty(x => x.NextAttemptAt, next)
                        .SetProperty(x => x.LeaseUntil, (DateTimeOffset?)null)
                        .SetProperty(x => x.LastStatusCode, attempt.StatusCode)
                        .SetProperty(x => x.LastError, error)
                        .SetProperty(x => x.LastAttemptAt, started), CancellationToken.None)
                    .ConfigureAwait(false);
            }
            finally
            {
                _writers.Release();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down mid-attempt: the lease runs out and another dispatcher (or the next start) makes it again.
        }
        catch (Exception exception)
        {
            LogAttemptNotRecorded(exception, delivery.Id);
        }
    }

    /// <summary>The secrets that sign each tenant's deliveries now, read once per batch so that a rotation shows at once.</summary>
    private async Task<Dictionary<string, IReadOnlyList<string>>> SecretsAsync(InferenceDbContext db,
        IReadOnlyList<WebhookDelivery> deliveries, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var result = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var tenantId in deliveries.Select(x => x.TenantId).Distinct(StringComparer.Ordinal))
        {
            if (await TenantWebhookSecrets.EnsureAsync(db, tenantId, cancellationToken).ConfigureAwait(false) is Tenant tenant)
                result[tenantId] = TenantWebhookSecrets.SigningSecrets(tenant, now);
        }

        return result;
    }

    /// <summary>Leases up to <paramref name="limit"/> due deliveries, earliest due first, skipping busy destinations.</summary>
    private static async Task<List<WebhookDelivery>> ClaimAsync(InferenceDbContext db, int limit, string[] busy,
        DateTimeOffset now, DateTimeOffset lease, CancellationToken cancellationToken)
    {
        var postgres = db.Database.IsNpgsql();
        // SQLite keeps times as UTC ticks (see SqliteInferenceDbContext).
        object At(DateTimeOffset time) => postgres ? time : time.UtcTicks;

        var parameters = new List<object> { At(lease), WebhookDeliveryStatus.Pending, At(now), limit };
        var sql = new StringBuilder(
            "UPDATE webhook_deliveries SET lease_until = {0} WHERE id IN (SELECT id FROM webhook_deliveries " +
            "WHERE status = {1} AND next_attempt_at <= {2} AND (lease_until IS NULL OR lease_until < {2})");
        if (busy.Length > 0)
        {
            sql.Append(" AND destination NOT IN (");
            sql.AppendJoin(", ", busy.Select((_, i) => string.Create(CultureInfo.InvariantCulture, $"{{{parameters.Count + i}}}")));
            sql.Append(')');
            parameters.AddRange(busy);
        }

        sql.Append(" ORDER BY next_attempt_at LIMIT {3}");
        if (postgres)
            sql.Append(" FOR UPDATE SKIP LOCKED");
        sql.Append(") RETURNING *");

        return await db.WebhookDeliveries.FromSqlRaw(sql.ToString(), [.. parameters]).AsNoTracking()
            .ToListAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _wake.Dispose();
        _writers.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Taking due webhook deliveries failed; the next poll tries again.")]
    private partial void LogDispatchFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} of inference {InferenceId} failed after {Attempts} attempts: {Error}")]
    private partial void LogGaveUp(Guid deliveryId, Guid inferenceId, int attempts, string? error);

    [LoggerMessage(Level = LogLevel.Error, Message = "The outcome of webhook delivery {DeliveryId} could not be recorded; it is attempted again once its lease runs out.")]
    private partial void LogAttemptNotRecorded(Exception exception, Guid deliveryId);
}
