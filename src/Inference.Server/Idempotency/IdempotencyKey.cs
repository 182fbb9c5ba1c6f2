namespace Inference.Server.Idempotency;

/// <summary>
/// A tenant's <c>Idempotency-Key</c> and the request it created: a second submission with the same key within
/// <see cref="IdempotencyKeys.Window"/> is answered with that request instead of creating another. Stored in the same
/// transaction as the request itself, so a key exists exactly when its request does.
/// </summary>
public sealed class IdempotencyKey
{
    public required string TenantId { get; init; }

    /// <summary>The header's value as the client sent it (quotes of a structured-field string removed).</summary>
    public required string Key { get; init; }

    /// <summary>SHA-256 of what the submission asked for (<see cref="IdempotencyKeys.Fingerprint"/>): a reuse of the key
    /// for anything else is refused.</summary>
    public required byte[] Fingerprint { get; init; }

    public Guid InferenceId { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}
