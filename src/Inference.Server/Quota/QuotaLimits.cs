namespace Inference.Server.Quota;

/// <summary>
/// The token allowance of one tenant, per UTC calendar minute and per UTC calendar day.
/// </summary>
/// <remarks>
/// A limit of <c>0</c> means "no limit" for that window (the convention of Redis' own <c>maxmemory 0</c>); usage is
/// still counted so that it can be reported. A tenant who must not spend tokens at all is switched off elsewhere
/// (its keys revoked), not by a zero limit. Negative limits are refused: they are a configuration mistake, and
/// guessing whether one meant "unlimited" or "nothing" would be worse than failing.
/// </remarks>
public sealed record QuotaLimits
{
    /// <summary>No limit on either window.</summary>
    public static QuotaLimits Unlimited { get; } = new(0, 0);

    /// <param name="tokensPerMinute">Tokens allowed in one UTC calendar minute; 0 for no limit.</param>
    /// <param name="tokensPerDay">Tokens allowed in one UTC calendar day; 0 for no limit.</param>
    /// <exception cref="ArgumentOutOfRangeException">A limit is negative.</exception>
    public QuotaLimits(long tokensPerMinute, long tokensPerDay)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokensPerMinute);
        ArgumentOutOfRangeException.ThrowIfNegative(tokensPerDay);
        TokensPerMinute = tokensPerMinute;
        TokensPerDay = tokensPerDay;
    }

    /// <summary>Tokens allowed in one UTC calendar minute; 0 for no limit.</summary>
    public long TokensPerMinute { get; }

    /// <summary>Tokens allowed in one UTC calendar day; 0 for no limit.</summary>
    public long TokensPerDay { get; }
}
