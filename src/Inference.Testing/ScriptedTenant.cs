namespace Inference.Testing;

/// <summary>
/// A tenant the harness knows, and what its quota answers. A new one is enabled and admits every reservation.
/// Script it before submitting, or between submissions: each request reads the script when it reaches that step.
/// </summary>
public sealed class ScriptedTenant
{
    private volatile bool _disabled;
    private volatile QuotaRefusal? _refusal;

    internal ScriptedTenant(string id) => Id = id;

    public string Id { get; }

    /// <summary>True when submissions are refused with <c>tenant_disabled</c>.</summary>
    public bool IsDisabled => _disabled;

    internal QuotaRefusal? Refusal => _refusal;

    /// <summary>Refuses its submissions at the door with <c>tenant_disabled</c>, as for a disabled tenant.</summary>
    public ScriptedTenant Disable()
    {
        _disabled = true;
        return this;
    }

    /// <summary>Accepts its submissions again.</summary>
    public ScriptedTenant Enable()
    {
        _disabled = false;
        return this;
    }

    /// <summary>
    /// Refuses its quota reservations, as a quota ledger whose window is used up: the request fails with the window's
    /// code (<c>rate_limit_tokens</c> by default), and a submitter waiting on a request gets <c>InferenceRejected</c> with
    /// that code, the plan limit it names, <paramref name="limitTokens"/> and <paramref name="retryAfter"/>.
    /// </summary>
    /// <param name="retryAfter">When the window resets; null: the request alone exceeds the limit and never fits.</param>
    /// <param name="limit">The window: a refusal code (<c>rate_limit_requests</c>, <c>rate_limit_tokens</c>,
    /// <c>quota_daily_tokens</c>, <c>quota_monthly_tokens</c>, <c>concurrency_limit</c>) or the plan limit's name
    /// (<c>tokens_per_minute</c>, <c>tokens_per_day</c>, ...).</param>
    /// <param name="limitTokens">The limit's size, which the failure's message names.</param>
    public ScriptedTenant RefuseQuota(TimeSpan? retryAfter = null, string limit = "rate_limit_tokens", long limitTokens = 0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(limit);
        _refusal = new QuotaRefusal(limit, limitTokens, retryAfter);
        return this;
    }

    /// <summary>Admits its quota reservations again (the default).</summary>
    public ScriptedTenant AdmitQuota()
    {
        _refusal = null;
        return this;
    }
}

/// <summary>What a scripted quota refusal answers.</summary>
internal sealed record QuotaRefusal(string Limit, long LimitTokens, TimeSpan? RetryAfter);
