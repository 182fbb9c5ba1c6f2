using MassTransit;

namespace Inference.Server.Messaging.Outbox;

/// <summary>
/// A message that a committed transaction promised to send, kept in <c>outbox_messages</c> until it has left. It is
/// written in the same transaction as the change that sends it (a saga transition, a submission), so that either both
/// happen or neither does; <see cref="OutboxDispatcher"/> delivers it and deletes it.
/// </summary>
public sealed class OutboxMessage
{
    /// <summary>Gives the order of writing; a request's messages leave in this order.</summary>
    public long Sequence { get; set; }

    /// <summary>The request (saga instance) that sent it; the unit of ordering and of dispatch.</summary>
    public Guid CorrelationId { get; set; }

    /// <summary>Kept across deliveries, so that a message delivered twice is recognisably the same message.</summary>
    public Guid MessageId { get; set; }

    /// <summary>Where to send it; <see langword="null"/> to publish it.</summary>
    public string? Destination { get; set; }

    /// <summary>The message's .NET type, as <c>Namespace.Type, Assembly</c>.</summary>
    public required string MessageType { get; set; }

    /// <summary>The message as UTF-8 JSON.</summary>
    public required byte[] Body { get; set; }

    /// <summary>Set on a reply, to match it to the request it answers.</summary>
    public Guid? RequestId { get; set; }

    public Guid? ConversationId { get; set; }

    public Guid? InitiatorId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>A message to send to <paramref name="destination"/>, or to publish when it is null, on behalf of a request.</summary>
    public static OutboxMessage For<T>(Guid correlationId, Uri? destination, T message, DateTimeOffset createdAt)
        where T : class => new()
    {
        CorrelationId = correlationId,
        MessageId = NewId.NextGuid(),
        Destination = destination?.ToString(),
        MessageType = OutboxSerializer.TypeName(typeof(T)),
        Body = OutboxSerializer.Serialize(message),
        CreatedAt = createdAt,
    };
}
