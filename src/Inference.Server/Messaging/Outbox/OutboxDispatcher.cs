using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Messaging.Outbox;

/// <summary>
/// Delivers a request's outbox messages, oldest first, and deletes them once sent: at least once, in order per request,
/// whichever process does it.
/// </summary>
/// <remarks>
/// One transaction takes the request's rows with <c>DELETE ... RETURNING</c>, sends them in order, then commits. The
/// delete locks the rows (PostgreSQL) or the database (SQLite), so a second dispatcher of the same request waits, then
/// finds only what was written after, and a request's messages never overtake each other. A failed send or a process
/// killed mid-way rolls the delete back: the rows stay for the next attempt, and a message may then be sent twice,
/// which every consumer tolerates (each acts at most once per request).
/// </remarks>
public sealed partial class OutboxDispatcher(IBus bus, IOptions<OutboxOptions> options, ILogger<OutboxDispatcher> logger)
{
    /// <summary>Sends and deletes every message <paramref name="correlationId"/> has in the outbox; returns how many.</summary>
    public async Task<int> DispatchAsync(DbContext db, Guid correlationId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var messages = await db.Set<OutboxMessage>()
            .FromSql($"DELETE FROM outbox_messages WHERE correlation_id = {correlationId} RETURNING *")
            .AsNoTracking()
            .ToListAsync(cancellationToken).ConfigureAwait(false);

        foreach (var message in messages.OrderBy(x => x.Sequence))
            await SendAsync(message, cancellationToken).ConfigureAwait(false);

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return messages.Count;
    }

    /// <summary>
    /// <see cref="DispatchAsync"/> for a caller that has already committed and must not fail for it: whatever could
    /// not be sent stays in the outbox for <see cref="OutboxSweeper"/>. Returns false when that happened.
    /// </summary>
    public async Task<bool> TryDispatchAsync(DbContext db, Guid correlationId, CancellationToken cancellationToken)
    {
        try
        {
            await DispatchAsync(db, correlationId, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogLeftForSweeper(exception, correlationId);
            return false;
        }
    }

    private async Task SendAsync(OutboxMessage row, CancellationToken cancellationToken)
    {
        var (message, type) = OutboxSerializer.Deserialize(row);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.SendTimeout);

        // Bounded as a whole, not only by the token: while the broker restarts, getting an endpoint takes no token and a
        // send may not heed one, and the caller's transaction holds the request's rows (and a connection) until this
        // returns. Left unbounded, a hung send held them for good, and every sweep waited on them first (seen in the
        // outage drill: six requests left in Submitted behind one hung dispatch). An abandoned send may still go out
        // later; the rows stay and are sent again, which every consumer tolerates.
        if (row.Destination is null)
        {
            await bus.Publish(message, type, Pipe.Execute<PublishContext>(context => Stamp(context, row)), timeout.Token)
                .WaitAsync(timeout.Token).ConfigureAwait(false);
            return;
        }

        var endpoint = await bus.GetSendEndpoint(new Uri(row.Destination)).WaitAsync(timeout.Token).ConfigureAwait(false);
        await endpoint.Send(message, type, Pipe.Execute<SendContext>(context => Stamp(context, row)), timeout.Token)
            .WaitAsync(timeout.Token).ConfigureAwait(false);
    }

    private static void Stamp(SendContext context, OutboxMessage row)
    {
        context.MessageId = row.MessageId;
        context.RequestId = row.RequestId;
        context.ConversationId = row.ConversationId;
        context.InitiatorId = row.InitiatorId;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The outbox messages of {CorrelationId} were not sent now; the outbox sweeper will send them.")]
    private partial void LogLeftForSweeper(Exception exception, Guid correlationId);
}
