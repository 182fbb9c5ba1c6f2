namespace Inference.Server.Quota;

/// <summary>What <see cref="IQuotaLedger.SettleAsync"/> or <see cref="IQuotaLedger.ReleaseAsync"/> found and did.</summary>
public enum QuotaSettlementOutcome
{
    /// <summary>This call moved the reservation to its final state and corrected the counters.</summary>
    Applied,

    /// <summary>The reservation had been settled before; nothing changed.</summary>
    AlreadySettled,

    /// <summary>The reservation had been released before; nothing changed.</summary>
    AlreadyReleased,

    /// <summary>No reservation is known for this tenant and inference; nothing changed.</summary>
    NotReserved,

    /// <summary>The reservation was rejected, so it holds no tokens to settle or release; nothing changed.</summary>
    WasRejected,
}

/// <summary>
/// The result of settling or releasing a reservation. On a no-op it still reports what the reservation was
/// finally charged, so that a redelivered message can publish the same facts as the first delivery did.
/// </summary>
/// <param name="Outcome">Whether this call changed anything, and if not, why.</param>
/// <param name="ReservedTokens">The tokens the reservation set aside (0 when it is unknown).</param>
/// <param name="ChargedTokens">
/// The tokens the tenant is finally charged: the actual usage once settled, 0 once released or when nothing
/// was reserved.
/// </param>
public sealed record QuotaSettlement(QuotaSettlementOutcome Outcome, long ReservedTokens, long ChargedTokens)
{
    /// <summary>This call changed the ledger; every later settle or release of the same inference is a no-op.</summary>
    public bool Applied => Outcome == QuotaSettlementOutcome.Applied;

    internal static QuotaSettlement NotReserved { get; } = new(QuotaSettlementOutcome.NotReserved, 0, 0);
}
