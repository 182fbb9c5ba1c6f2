using System.Collections.Concurrent;
using System.Text.Json;

namespace Inference.Server.Messaging.Outbox;

/// <summary>
/// How an outbox row holds its message: the .NET type's name and the message as UTF-8 JSON. The row is read back by
/// this service only, so the format is ours; the bus serializes the message again on the way out.
/// </summary>
internal static class OutboxSerializer
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
    private static readonly ConcurrentDictionary<string, Type> Types = new(StringComparer.Ordinal);

    /// <summary><c>Namespace.Type, Assembly</c>: no version, so that a row written before an upgrade is read after it.</summary>
    public static string TypeName(Type type) => $"{type.FullName}, {type.Assembly.GetName().Name}";

    public static byte[] Serialize<T>(T message) => JsonSerializer.SerializeToUtf8Bytes(message, Options);

    public static (object Message, Type Type) Deserialize(OutboxMessage row)
    {
        var type = Types.GetOrAdd(row.MessageType, name => Type.GetType(name, throwOnError: true)!);
        var message = JsonSerializer.Deserialize(row.Body, type, Options)
            ?? throw new InvalidOperationException($"Outbox message {row.Sequence} holds a null {row.MessageType}.");
        return (message, type);
    }
}
