using MassTransit;
using MassTransit.Context;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Messaging.Outbox;

/// <summary>
/// What one consumed message (one saga transition) sends and publishes, held back until the transaction that writes it
/// to the outbox. Each message is serialized when it is captured, with the headers the send pipe set on it.
/// </summary>
public sealed class OutboxBuffer(TimeProvider clock)
{
    private readonly Lock _gate = new();
    private readonly List<OutboxMessage> _pending = [];
    private Guid? _correlationId;

    /// <summary>True once anything was captured, written or not: the transaction then has messages to dispatch.</summary>
    public bool HasMessages { get; private set; }

    /// <summary>
    /// The request the messages belong to: the saga instance the repository loaded or created. The first one counts; an
    /// event that several instances share is rare and not used by the inference saga.
    /// </summary>
    public Guid CorrelationId => _correlationId ?? throw new InvalidOperationException("No saga instance was loaded or created.");

    public void Correlate(Guid correlationId) => _correlationId ??= correlationId;

    /// <summary>Runs the send pipe on a context of our own, to learn the headers it sets, and keeps the result.</summary>
    internal async Task Capture<T>(T message, IPipe<SendContext<T>> pipe, Uri? destination, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        var context = new MessageSendContext<T>(message, cancellationToken) { IsPublish = destination is null };
        if (destination is not null)
            context.DestinationAddress = destination;
        await pipe.Send(context).ConfigureAwait(false);

        // The request is not known yet on every path (a new saga is correlated after its first send): stamped when taken.
        var captured = OutboxMessage.For(Guid.Empty, destination, message, clock.GetUtcNow());
        captured.MessageId = context.MessageId ?? captured.MessageId;
        captured.RequestId = context.RequestId;
        captured.ConversationId = context.ConversationId;
        captured.InitiatorId = context.InitiatorId;
        lock (_gate)
        {
            _pending.Add(captured);
            HasMessages = true;
        }
    }

    /// <summary>
    /// Adds the messages captured since the last call to <paramref name="db"/>'s unit of work, stamped with the request,
    /// so that its next save writes them; returns whether there were any.
    /// </summary>
    public bool StageInto(DbContext db)
    {
        ArgumentNullException.ThrowIfNull(db);
        var pending = TakePending();
        db.Set<OutboxMessage>().AddRange(pending);
        return pending.Count > 0;
    }

    private IReadOnlyList<OutboxMessage> TakePending()
    {
        lock (_gate)
        {
            if (_pending.Count == 0)
                return [];

            var taken = _pending.ToArray();
            _pending.Clear();
            foreach (var message in taken)
                message.CorrelationId = CorrelationId;
            return taken;
        }
    }
}
