namespace Inference.Server.Quota;

/// <summary>Where a reservation is in its life; it moves at most once, from <see cref="Reserved"/> to a final state.</summary>
public enum ReservationState
{
    Reserved,
    Settled,
    Released,
    Rejected,
}

/// <summary>
/// What the ledger remembers about one inference, for diagnostics and for the request's own usage: once settled,
/// <see cref="ChargedTokens"/> holds the tokens the inference actually used.
/// </summary>
/// <param name="TenantId">The tenant charged.</param>
/// <param name="InferenceId">The inference the reservation belongs to.</param>
/// <param name="State">Reserved, or its final state.</param>
/// <param name="Decision">The decision that <see cref="IQuotaLedger.ReserveAsync"/> returned, and returns again on redelivery.</param>
/// <param name="MinuteWindow">Start of the UTC minute the tokens were counted in (or evaluated against, if rejected).</param>
/// <param name="DayWindow">Start of the UTC day the tokens were counted in (or evaluated against, if rejected).</param>
/// <param name="MonthWindow">Start of the UTC month the tokens were counted in (or evaluated against, if rejected).</param>
/// <param name="DecidedAt">When the reservation was decided.</param>
/// <param name="ChargedTokens">The actual tokens once settled, 0 once released; <see langword="null"/> before that.</param>
/// <param name="FinishedAt">When it was settled or released.</param>
public sealed record ReservationRecord(
    string TenantId,
    Guid InferenceId,
    ReservationState State,
    QuotaDecision Decision,
    DateTimeOffset MinuteWindow,
    DateTimeOffset DayWindow,
    DateTimeOffset MonthWindow,
    DateTimeOffset DecidedAt,
    long? ChargedTokens,
    DateTimeOffset? FinishedAt);
