using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Inference.Server.Hosting;
using Inference.Server.Persistence;
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
    private readonly Dictionary<string, Queue<Claimed>> _queued = new(StringComparer.Ordinal);
    private int _queuedCount;
    private readonly HashSet<Task> _inFlight = [];
    private readonly SemaphoreSlim _wake = new(0);

    // Attempts' outcomes, written in batches by one writer: a commit per batch, not per attempt, whatever is in flight.
    private readonly Channel<Outcome> _outcomes = Channel.CreateUnbounded<Outcome>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>What a queued delivery's lease must have left, beyond one attempt's timeout, for it to start.</summary>
    private static readonly TimeSpan LeaseMargin = TimeSpan.FromSeconds(1);

    /// <summary>Most outcomes written in one transaction.</summary>
    private const int OutcomeBatchSize = 256;

    /// <summary>Database connections the dispatcher holds at most: one to take deliveries, one to record outcomes.</summary>
    internal const int Connections = 2;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await lifetime.WhenStartedAsync(stoppingToken).ConfigureAwait(false))
            return;

        var writer = Task.Run(WriteOutcomesAsync, CancellationToken.None);
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

            // What the attempts made is recorded before the process goes, and what was queued here is left to others now
            // rather than when its lease runs out.
            _outcomes.Writer.Complete();
            await writer.ConfigureAwait(false);
            await ReleaseQueuedAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Takes due deliveries for the room there is, and starts what may start; true when it took all it asked for. Per
    /// destination it takes up to twice the bound, in flight and queued here: a queued one starts the moment a slot of its
    /// destination frees, without a round trip to the database. A queued one waits at most about one
    /// <see cref="WebhookOptions.Timeout"/>, well within its lease.
    /// </summary>
    internal async Task<bool> DispatchDueAsync(CancellationToken cancellationToken)
    {
        int limit;
        Dictionary<string, int> taken;
        var settings = options.Value;
        var perDestination = 2 * settings.MaxConcurrentPerDestination;
        lock (_gate)
        {
            limit = 2 * settings.MaxConcurrentDeliveries - _inFlight.Count - _queuedCount;
            taken = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (destination, count) in _perDestination)
                taken[destination] = count;
            foreach (var (destination, queue) in _queued)
                taken[destination] = taken.GetValueOrDefault(destination) + queue.Count;
        }

        if (limit <= 0)
            return false;

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        var now = clock.GetUtcNow();
        // Whole milliseconds, which every store keeps exactly: the lease is compared with what was stored.
        var lease = now + settings.Lease;
        lease = lease.AddTicks(-(lease.UtcTicks % TimeSpan.TicksPerMillisecond));
        var claimed = await ClaimAsync(db, limit, perDestination, taken, now, lease, cancellationToken).ConfigureAwait(false);
        if (claimed.Count == 0)
            return false;

        var secrets = await SecretsAsync(db, claimed, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            foreach (var delivery in claimed.OrderBy(x => x.NextAttemptAt))
            {
                if (!_queued.TryGetValue(delivery.Destination, out var queue))
                    _queued[delivery.Destination] = queue = new Queue<Claimed>();
                queue.Enqueue(new Claimed(delivery, secrets.GetValueOrDefault(delivery.TenantId) ?? []));
                _queuedCount++;
            }

            StartWhatMay(cancellationToken);
        }

        return claimed.Count == limit;
    }

    private async Task ReleaseQueuedAsync()
    {
        List<Guid> queued;
        lock (_gate)
        {
            queued = [.. _queued.Values.SelectMany(queue => queue).Select(x => x.Delivery.Id)];
            _queued.Clear();
            _queuedCount = 0;
        }

        if (queued.Count == 0)
            return;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            await db.WebhookDeliveries.Where(x => queued.Contains(x.Id) && x.Status == WebhookDeliveryStatus.Pending)
                .ExecuteUpdateAsync(set => set.SetProperty(x => x.LeaseUntil, (DateTimeOffset?)null), CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // Their leases run out instead.
            LogOutcomesNotRecorded(exception, queued.Count);
        }
    }

    /// <summary>Starts queued deliveries while their destination and the dispatcher have room. Under <see cref="_gate"/>.</summary>
    private void StartWhatMay(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        foreach (var (destination, queue) in _queued.ToList())
        {
            while (queue.Count > 0 && _inFlight.Count < settings.MaxConcurrentDeliveries
                && _perDestination.GetValueOrDefault(destination) < settings.MaxConcurrentPerDestination)
            {
                var (delivery, secrets) = queue.Dequeue();
                _queuedCount--;

                // Too close to the end of its lease to be sure to finish within it: left for whoever takes it next.
                if (delivery.LeaseUntil is not { } lease || lease - clock.GetUtcNow() < settings.Timeout + LeaseMargin)
                    continue;

                _perDestination[destination] = _perDestination.GetValueOrDefault(destination) + 1;
                var task = AttemptAsync(delivery, secrets, cancellationToken);
                _inFlight.Add(task);
                _ = task.ContinueWith(Finished, (destination, cancellationToken), CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            if (queue.Count == 0)
                _queued.Remove(destination);
        }
    }

    private void Finished(Task task, object? state)
    {
        var (destination, cancellationToken) = ((string, CancellationToken))state!;
        lock (_gate)
        {
            _inFlight.Remove(task);
            if (--_perDestination[destination] == 0)
                _perDestination.Remove(destination);
            if (!cancellationToken.IsCancellationRequested)
                StartWhatMay(cancellationToken);
        }

        // The loop takes more when it next runs; several wake-ups at once make one run.
        if (_wake.CurrentCount == 0)
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

            var error = attempt.Error is { Length: > WebhookDelivery.MaxErrorLength } longError
                ? longError[..WebhookDelivery.MaxErrorLength]
                : attempt.Error;
            await _outcomes.Writer.WriteAsync(new Outcome(delivery.Id, delivery.LeaseUntil, status, attempts, next, attempt.StatusCode, error, started),
                CancellationToken.None).ConfigureAwait(false);
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

    /// <summary>
    /// Records outcomes as they come, each batch in one transaction. A batch that cannot be written (the database is
    /// away) is lost: its deliveries keep their lease, and are attempted again once it runs out.
    /// </summary>
    private async Task WriteOutcomesAsync()
    {
        var batch = new List<Outcome>(OutcomeBatchSize);
        while (await _outcomes.Reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            while (batch.Count < OutcomeBatchSize && _outcomes.Reader.TryRead(out var outcome))
                batch.Add(outcome);
            try
            {
                await WriteAsync(batch).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                LogOutcomesNotRecorded(exception, batch.Count);
            }

            batch.Clear();
        }
    }

    private async Task WriteAsync(IReadOnlyList<Outcome> batch)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        await using var transaction = await db.Database.BeginTransactionAsync(CancellationToken.None).ConfigureAwait(false);
        foreach (var outcome in batch)
        {
            // Only under the lease the attempt was made under: if it ran out and another dispatcher took over, that one's
            // record stands.
            await db.WebhookDeliveries.Where(x => x.Id == outcome.Id && x.LeaseUntil == outcome.Lease)
                .ExecuteUpdateAsync(set => set
                    .SetProperty(x => x.Status, outcome.Status)
                    .SetProperty(x => x.Attempts, outcome.Attempts)
                    .SetProperty(x => x.NextAttemptAt, outcome.NextAttemptAt)
                    .SetProperty(x => x.LeaseUntil, (DateTimeOffset?)null)
                    .SetProperty(x => x.LastStatusCode, outcome.StatusCode)
                    .SetProperty(x => x.LastError, outcome.Error)
                    .SetProperty(x => x.LastAttemptAt, outcome.AttemptedAt), CancellationToken.None)
                .ConfigureAwait(false);
        }

        await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>A delivery this dispatcher holds the lease of, with the secrets that sign it.</summary>
    private sealed record Claimed(WebhookDelivery Delivery, IReadOnlyList<string> Secrets);

    /// <summary>One attempt's outcome, to be written to its delivery's row.</summary>
    private sealed record Outcome(Guid Id, DateTimeOffset? Lease, string Status, int Attempts, DateTimeOffset NextAttemptAt,
        int? StatusCode, string? Error, DateTimeOffset AttemptedAt);

    /// <summary>The secrets that sign each tenant's deliveries now, read once per batch so that a rotation shows at once.</summary>
    private async Task<Dictionary<string, IReadOnlyList<string>>> SecretsAsync(InferenceDbContext db,
        IReadOnlyList<WebhookDelivery> deliveries, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var result = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var ids = deliveries.Select(x => x.TenantId).Distinct(StringComparer.Ordinal).ToList();
        var tenants = await db.Tenants.AsNoTracking().Where(x => ids.Contains(x.Id)).ToListAsync(cancellationToken).ConfigureAwait(false);
        foreach (var known in tenants)
        {
            // A tenant whose secret nobody has read yet gets one now.
            var tenant = known.WebhookSecret is null
                ? await TenantWebhookSecrets.EnsureAsync(db, known.Id, cancellationToken).ConfigureAwait(false)
                : known;
            if (tenant is not null)
                result[tenant.Id] = TenantWebhookSecrets.SigningSecrets(tenant, now);
        }

        return result;
    }

    /// <summary>
    /// Leases up to <paramref name="limit"/> due deliveries, earliest due first, and per destination no more than it has
    /// room for: <paramref name="perDestination"/> less what is in flight to it. One statement; the candidates are the
    /// first few due rows of destinations with room (a bounded read of the due index, however large the backlog), ranked
    /// per destination.
    /// </summary>
    private static async Task<List<WebhookDelivery>> ClaimAsync(InferenceDbContext db, int limit, int perDestination,
        IReadOnlyDictionary<string, int> inFlight, DateTimeOffset now, DateTimeOffset lease, CancellationToken cancellationToken)
    {
        var postgres = db.Database.IsNpgsql();
        // SQLite keeps times as UTC ticks (see SqliteInferenceDbContext).
        object At(DateTimeOffset time) => postgres ? time : time.UtcTicks;
        string Parameter(List<object> list, object value)
        {
            list.Add(value);
            return string.Create(CultureInfo.InvariantCulture, $"{{{list.Count - 1}}}");
        }

        var parameters = new List<object>();
        var pending = Parameter(parameters, WebhookDeliveryStatus.Pending);
        var at = Parameter(parameters, At(now));
        var sql = new StringBuilder(
            $"WITH due AS (SELECT id, destination, next_attempt_at FROM webhook_deliveries WHERE status = {pending} " +
            $"AND next_attempt_at <= {at} AND (lease_until IS NULL OR lease_until < {at})");
        var busy = inFlight.Where(x => x.Value >= perDestination).Select(x => x.Key).ToList();
        if (busy.Count > 0)
            sql.Append(" AND destination NOT IN (").AppendJoin(", ", busy.Select(d => Parameter(parameters, d))).Append(')');
        sql.Append(" ORDER BY next_attempt_at LIMIT ").Append(Parameter(parameters, limit * 4 + 32));
        if (postgres)
            sql.Append(" FOR UPDATE SKIP LOCKED");

        // Room per destination: the bound, less what is in flight to those that have some.
        var room = new StringBuilder(Parameter(parameters, perDestination));
        var partial = inFlight.Where(x => x.Value < perDestination).ToList();
        if (partial.Count > 0)
        {
            room.Clear().Append("CASE destination");
            foreach (var (destination, count) in partial)
                room.Append(" WHEN ").Append(Parameter(parameters, destination)).Append(" THEN ").Append(Parameter(parameters, perDestination - count));
            room.Append(" ELSE ").Append(Parameter(parameters, perDestination)).Append(" END");
        }

        sql.Append("), ranked AS (SELECT id, next_attempt_at, ")
            .Append(room)
            .Append(" AS room, row_number() OVER (PARTITION BY destination ORDER BY next_attempt_at) AS position FROM due) ")
            .Append("UPDATE webhook_deliveries SET lease_until = ").Append(Parameter(parameters, At(lease)))
            .Append(" WHERE id IN (SELECT id FROM ranked WHERE position <= room ORDER BY next_attempt_at LIMIT ")
            .Append(Parameter(parameters, limit))
            // Asked again of the row itself: on PostgreSQL a row another dispatcher leased meanwhile is skipped.
            .Append($") AND status = {pending} AND (lease_until IS NULL OR lease_until < {at}) RETURNING *");

        return await db.WebhookDeliveries.FromSqlRaw(sql.ToString(), [.. parameters]).AsNoTracking()
            .ToListAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Taking due webhook deliveries failed; the next poll tries again.")]
    private partial void LogDispatchFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} of inference {InferenceId} failed after {Attempts} attempts: {Error}")]
    private partial void LogGaveUp(Guid deliveryId, Guid inferenceId, int attempts, string? error);

    [LoggerMessage(Level = LogLevel.Error, Message = "The attempt of webhook delivery {DeliveryId} failed unexpectedly; it is attempted again once its lease runs out.")]
    private partial void LogAttemptNotRecorded(Exception exception, Guid deliveryId);

    [LoggerMessage(Level = LogLevel.Error, Message = "The outcomes of {Count} webhook attempts could not be recorded; those deliveries are attempted again once their lease runs out.")]
    private partial void LogOutcomesNotRecorded(Exception exception, int count);
}
