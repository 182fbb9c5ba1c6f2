using Inference.Server.Hosting;
using Inference.Server.Persistence;
using Inference.Server.Resilience;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Messaging.Outbox;

/// <summary>
/// Delivers the outbox messages that the process which wrote them did not: it died between its commit and its send,
/// or lost the broker or the database at that moment. Runs in every orchestrator; several sweeping at once deliver each
/// request's messages once between them (see <see cref="OutboxDispatcher"/>).
/// </summary>
public sealed partial class OutboxSweeper(
    IServiceScopeFactory scopes,
    OutboxDispatcher dispatcher,
    IOptions<OutboxOptions> options,
    TimeProvider clock,
    IHostApplicationLifetime lifetime,
    ILogger<OutboxSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await lifetime.WhenStartedAsync(stoppingToken).ConfigureAwait(false))
            return;

        using var timer = new PeriodicTimer(options.Value.SweepInterval, clock);
        do
        {
            try
            {
                await SweepAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                // The database is away: the next tick tries again, and readiness says what is down.
                LogSweepFailed(exception);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>Delivers the messages older than <see cref="OutboxOptions.SweepAfter"/>; returns how many it sent.</summary>
    internal async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        var cutoff = clock.GetUtcNow() - options.Value.SweepAfter;
        var requests = await db.Outbox.AsNoTracking()
            .Where(x => x.CreatedAt <= cutoff)
            .GroupBy(x => x.CorrelationId)
            .OrderBy(g => g.Min(x => x.Sequence))
            .Select(g => g.Key)
            .Take(options.Value.SweepBatchSize)
            .ToListAsync(cancellationToken).ConfigureAwait(false);

        var sent = 0;
        foreach (var request in requests)
        {
            try
            {
                sent += await dispatcher.DispatchAsync(db, request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (!TransientFailures.Is(exception) && !cancellationToken.IsCancellationRequested)
            {
                // A row this version cannot send (a message type it does not know, a body the broker refuses) stays, with
                // the rest of its request, for an operator; the requests behind it are still delivered. An outage (the
                // broker still away) fails the sweep instead: the next one starts again from the oldest.
                LogRequestNotSent(exception, request);
            }
        }

        if (sent > 0)
            LogDelivered(sent, requests.Count);
        return sent;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The outbox sweeper sent {Count} messages of {Requests} requests that their writer had not sent.")]
    private partial void LogDelivered(int count, int requests);

    [LoggerMessage(Level = LogLevel.Error, Message = "The outbox messages of request {InferenceId} cannot be sent; they stay in outbox_messages for an operator, and the sweep goes on with other requests.")]
    private partial void LogRequestNotSent(Exception exception, Guid inferenceId);

    [LoggerMessage(Level = LogLevel.Error, Message = "The outbox sweep failed; the next one tries again.")]
    private partial void LogSweepFailed(Exception exception);
}
