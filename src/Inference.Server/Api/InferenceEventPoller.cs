using Inference.Orchestration;
using Inference.Server.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>
/// Wakes the event streams whose request moved to a state no event announces (quota reserved, inferring): every
/// <see cref="ApiOptions.EventPollInterval"/>, while this process holds streams, one query reads the states of all
/// their requests. With no stream open it waits and queries nothing; the final states come sooner, from the outcome
/// events, so this is only the path for the steps between.
/// </summary>
/// <remarks>
/// One connection for a moment per tick, whatever the number of streams; counted in the process's connection budget.
/// </remarks>
public sealed partial class InferenceEventPoller(
    InferenceEventHub hub,
    IServiceScopeFactory scopes,
    IOptions<ApiOptions> options,
    TimeProvider clock,
    ILogger<InferenceEventPoller> logger) : BackgroundService
{
    /// <summary>The most ids one query asks about; more streams take more queries in the same tick.</summary>
    internal const int IdsPerQuery = 5_000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await hub.WhenWatchedAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(options.Value.EventPollInterval, clock, stoppingToken).ConfigureAwait(false);
                try
                {
                    await PollAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    // The database is away: the next tick tries again, and the streams keep their heartbeats meanwhile.
                    LogPollFailed(exception);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Reads the states of every followed request and wakes the streams that saw another.</summary>
    internal async Task PollAsync(CancellationToken cancellationToken)
    {
        var watched = hub.Watched();
        if (watched.Count == 0)
            return;

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        var statuses = new Dictionary<Guid, string>(watched.Count);
        foreach (var chunk in watched.Chunk(IdsPerQuery))
        {
            var states = await db.Inferences.AsNoTracking()
                .Where(x => chunk.Contains(x.CorrelationId))
                .Select(x => new { x.CorrelationId, x.CurrentState })
                .ToListAsync(cancellationToken).ConfigureAwait(false);
            foreach (var state in states)
                statuses[state.CorrelationId] = InferenceStates.IsKnownState(state.CurrentState)
                    ? InferenceStates.ToApi(state.CurrentState)
                    : state.CurrentState;
        }

        hub.Observe(watched, statuses);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the states of the requests that event streams follow failed; the next poll tries again.")]
    private partial void LogPollFailed(Exception exception);
}
