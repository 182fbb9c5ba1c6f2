using System.Diagnostics.CodeAnalysis;

namespace Inference.Server.Quota;

/// <summary>The outcome of <see cref="IQuotaLedger.ReserveAsync"/>: the tokens were set aside, or why not.</summary>
public sealed record QuotaDecision
{
    private QuotaDecision(long tokens, QuotaRejection? rejection)
    {
        Tokens = tokens;
        Rejection = rejection;
    }

    /// <summary>The tokens the reservation asked for (on a redelivery, those of the first request).</summary>
    public long Tokens { get; }

    /// <summary>Why the reservation was turned down; <see langword="null"/> when it was reserved.</summary>
    public QuotaRejection? Rejection { get; }

    [MemberNotNullWhen(false, nameof(Rejection))]
    public bool IsReserved => Rejection is null;

    public static QuotaDecision Reserved(long tokens) => new(tokens, null);

    public static QuotaDecision Rejected(long tokens, QuotaRejection rejection)
    {
        ArgumentNullException.ThrowIfNull(rejection);
        return new(tokens, rejection);
    }
}
