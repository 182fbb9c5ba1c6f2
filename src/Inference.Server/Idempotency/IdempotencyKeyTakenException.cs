namespace Inference.Server.Idempotency;

/// <summary>
/// A submission's <c>Idempotency-Key</c> was stored by another submission of the same tenant while this one was being
/// stored; nothing of this one was kept. Rare (two submissions with one key at the same moment), hence an exception.
/// </summary>
public sealed class IdempotencyKeyTakenException(Exception inner)
    : Exception("Another submission stored the same Idempotency-Key first.", inner);
