using Inference.Orchestration;
using Inference.Server.Hosting;
using Inference.Server.Idempotency;
using Inference.Server.Persistence;
using Inference.Server.Resilience;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Orchestration;

/// <summary>
/// Deletes the requests that ended more than <see cref="RetentionOptions.FinalAfter"/> ago, with their results and
/// <c>Idempotency-Key</c>s, the webhook deliveries that ended as long ago, and keys older than
/// <see cref="IdempotencyKeys.Window"/>. Every
/// <see cref="RetentionOptions.Interval"/> it deletes batches of <see cref="RetentionOptions.BatchSize"/> until a batch
/// comes back short. Runs in every orchestrator.
/// </summary>
/// <remarks>
/// Only requests in a final state are touched, and the delete itself asks again for the state and the age, so an
/// unfinished request is never deleted, however old. Several orchestrators running at once may pick the same rows:
/// a delete of rows already deleted deletes nothing, so they cost a little work, never a wrong outcome.
/// </remarks>
public sealed partial class RetentionJob(
    IServiceScopeFactory scopes,
    IOptions<RetentionOptions> options,
    TimeProvider clock,
    IHostApplicationLifetime lifetime,
    ILogger<RetentionJob> logger) : BackgroundService
{
    private static readonly string[] FinalStates = [.. InferenceStates.FinalStates];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await lifetime.WhenStartedAsync(stoppingToken).ConfigureAwait(false))
            return;

        using var timer = new PeriodicTimer(options.Value.Interval, clock);
        do
        {
            try
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                // The database is away (or something else went wrong): the next run tries again, and readiness says
                // what is down. Letting it escape would stop the whole host.
                if (TransientFailures.Is(exception))
                    LogRunInterrupted(exception);
                else
                    LogRunFailed(exception);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>
    /// Deletes every request that ended before now less <see cref="RetentionOptions.FinalAfter"/>, and its result, a
    /// batch per transaction; returns how many requests it deleted.
    /// </summary>
    internal async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var cutoff = clock.GetUtcNow() - settings.FinalAfter;
        var deleted = 0;
        int found;
        do
        {
            var (picked, removed) = await DeleteBatchAsync(cutoff, settings.BatchSize, cancellationToken).ConfigureAwait(false);
            found = picked;
            deleted += removed;
        }
        while (found == settings.BatchSize);

        if (deleted > 0)
            LogDeleted(deleted, settings.FinalAfter);
        await DeleteFinishedWebhookDeliveriesAsync(cutoff, cancellationToken).ConfigureAwait(false);
        await ForgetIdempotencyKeysAsync(cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    /// <summary>
    /// Deletes the <c>Idempotency-Key</c>s older than their window: after it, a key may name a new request. Each run
    /// finds about one interval's worth, so one statement does.
    /// </summary>
    private async Task ForgetIdempotencyKeysAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        var expired = clock.GetUtcNow() - IdempotencyKeys.Window;
        await db.IdempotencyKeys.Where(x => x.CreatedAt <= expired).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Webhook deliveries are kept as long as requests, counted from their creation; one still pending (retrying) is
    /// kept until it ends, whatever became of its request.
    /// </summary>
    private async Task DeleteFinishedWebhookDeliveriesAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        await db.WebhookDeliveries.Where(x => x.Status != Webhooks.WebhookDeliveryStatus.Pending && x.CreatedAt < cutoff)
            .ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One batch in one transaction: how many requests it picked, and how many of those it deleted.</summary>
    private async Task<(int Picked, int Deleted)> DeleteBatchAsync(DateTimeOffset cutoff, int batchSize, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();

        // No order: any expired rows will do, and without one the database can stop reading the state and time index
        // as soon as it has a batch, however many rows have expired.
        var ids = await db.Inferences.AsNoTracking()
            .Where(x => FinalStates.Contains(x.CurrentState) && x.UpdatedAt < cutoff)
            .Select(x => x.CorrelationId)
            .Take(batchSize)
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        if (ids.Count == 0)
            return (0, 0);

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        // The state and the age are asked again by the delete itself: what was picked is deleted only if it still is
        // an expired final request. A result goes only with its request.
        var deleted = await db.Inferences
            .Where(x => ids.Contains(x.CorrelationId) && FinalStates.Contains(x.CurrentState) && x.UpdatedAt < cutoff)
            .ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
        await db.Results
            .Where(r => ids.Contains(r.InferenceId) && !db.Inferences.Any(x => x.CorrelationId == r.InferenceId))
            .ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
        await db.IdempotencyKeys
            .Where(k => ids.Contains(k.InferenceId) && !db.Inferences.Any(x => x.CorrelationId == k.InferenceId))
            .ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return (ids.Count, deleted);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention deleted {Count} requests that ended more than {FinalAfter} ago, with their results.")]
    private partial void LogDeleted(int count, TimeSpan finalAfter);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The retention run was interrupted by an outage; the next one tries again.")]
    private partial void LogRunInterrupted(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "The retention run failed; the next one tries again.")]
    private partial void LogRunFailed(Exception exception);
}
