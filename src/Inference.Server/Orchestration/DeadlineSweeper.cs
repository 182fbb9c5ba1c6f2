using Inference.Orchestration;
using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Server.Hosting;
using Inference.Server.Persistence;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Orchestration;

/// <summary>
/// Keeps every accepted request on its way to a final state, whatever became of the process that held it. Every
/// <see cref="OrchestrationOptions.DeadlineSweepInterval"/> it reads the unfinished requests whose stored deadline
/// has passed and tells the saga (<see cref="InferenceDeadlineReached"/>), which fails them and releases their quota.
/// In the embedded mode it first resumes the requests a previous process left unfinished: the in-memory transport
/// lost their messages with it.
/// </summary>
/// <remarks>
/// The sweeper only reads; the saga, under its row lock, is the one writer of a request. A request is told again
/// only after <see cref="ResendAfter"/> (the saga may be busy), and the saga ignores a deadline it has acted on, so
/// several orchestrators sweeping at once cost duplicate messages, never a wrong outcome.
/// </remarks>
public sealed partial class DeadlineSweeper(
    IServiceScopeFactory scopes,
    IBus bus,
    Infrastructure infrastructure,
    IOptions<OrchestrationOptions> options,
    TimeProvider clock,
    IHostApplicationLifetime lifetime,
    ILogger<DeadlineSweeper> logger) : BackgroundService
{
    /// <summary>How long a request that was told stays untold, however often it is found overdue.</summary>
    internal static readonly TimeSpan ResendAfter = TimeSpan.FromMinutes(1);

    private static readonly Uri Saga = new($"queue:{InferenceEndpoints.Orchestrator}");
    private static readonly string[] UnfinishedStates = [.. InferenceStates.UnfinishedStates];

    private readonly DateTimeOffset _startedAt = clock.GetUtcNow();
    private readonly Dictionary<Guid, DateTimeOffset> _told = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await lifetime.WhenStartedAsync(stoppingToken).ConfigureAwait(false))
            return;

        var orphansToResume = infrastructure.RabbitMq is null;
        using var timer = new PeriodicTimer(options.Value.DeadlineSweepInterval, clock);
        do
        {
            try
            {
                if (orphansToResume)
                {
                    await ResumeOrphansAsync(_startedAt, stoppingToken).ConfigureAwait(false);
                    orphansToResume = false;
                }

                await SweepAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                // The database or the bus is away: the next tick tries again (the resume too, if that is what failed),
                // and readiness says what is down. Letting it escape would stop the whole host.
                LogSweepFailed(exception);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>Tells the saga about unfinished requests past their deadline; returns how many it told.</summary>
    internal async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        foreach (var (id, toldAt) in _told.ToArray())
        {
            if (now - toldAt >= ResendAfter)
                _told.Remove(id);
        }

        var batchSize = options.Value.DeadlineSweepBatchSize;
        List<(Guid Id, DateTimeOffset Deadline)> overdue;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            // Requests told within the last minute are left out in the query itself, so that a batch of them that the
            // saga has not got to yet cannot hide the requests behind it.
            var told = _told.Keys.ToList();
            var rows = await db.Inferences.AsNoTracking()
                .Where(x => UnfinishedStates.Contains(x.CurrentState) && x.DeadlineAt <= now && !told.Contains(x.CorrelationId))
                .OrderBy(x => x.DeadlineAt)
                .Take(batchSize)
                .Select(x => new { x.CorrelationId, x.DeadlineAt })
                .ToListAsync(cancellationToken).ConfigureAwait(false);
            overdue = [.. rows.Select(x => (x.CorrelationId, x.DeadlineAt))];
        }

        if (overdue.Count == 0)
            return 0;

        var endpoint = await bus.GetSendEndpoint(Saga).ConfigureAwait(false);
        foreach (var (id, deadline) in overdue)
        {
            await endpoint.Send(new InferenceDeadlineReached { InferenceId = id, Deadline = deadline }, cancellationToken)
                .ConfigureAwait(false);
            _told[id] = now;
        }

        LogOverdue(overdue.Count);
        return overdue.Count;
    }

    /// <summary>
    /// Asks the saga to send again what each request created before <paramref name="startedBefore"/> and still
    /// unfinished waits for; returns how many it asked about.
    /// </summary>
    internal async Task<int> ResumeOrphansAsync(DateTimeOffset startedBefore, CancellationToken cancellationToken)
    {
        List<Guid> orphans;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            orphans = await db.Inferences.AsNoTracking()
                .Where(x => UnfinishedStates.Contains(x.CurrentState) && x.CreatedAt < startedBefore)
                .Select(x => x.CorrelationId)
                .ToListAsync(cancellationToken).ConfigureAwait(false);
        }

        if (orphans.Count == 0)
            return 0;

        var endpoint = await bus.GetSendEndpoint(Saga).ConfigureAwait(false);
        foreach (var id in orphans)
            await endpoint.Send(new ResumeInference { InferenceId = id }, cancellationToken).ConfigureAwait(false);

        LogResumed(orphans.Count);
        return orphans.Count;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} unfinished requests are past their deadline; the saga was told to fail them.")]
    private partial void LogOverdue(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} requests were left unfinished by a previous process; the saga was asked to resume them.")]
    private partial void LogResumed(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "The deadline sweep failed; the next one tries again.")]
    private partial void LogSweepFailed(Exception exception);
}
