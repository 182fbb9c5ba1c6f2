namespace Inference.Orchestration.Protocol;

/// <summary>
/// Queue names of the platform's own roles, between which the saga's protocol runs. Integrators never send here: they
/// use <see cref="Contracts.InferenceEndpoints"/>.
/// </summary>
public static class ProtocolEndpoints
{
    /// <summary>Quota reservations (<see cref="ReserveQuota"/>).</summary>
    public const string Quota = "inference-quota";

    /// <summary>Quota settlements and releases (<see cref="SettleQuota"/>, <see cref="ReleaseQuota"/>).</summary>
    public const string QuotaSettlements = "inference-quota-settlements";

    /// <summary>Model workers (<see cref="RunInference"/>).</summary>
    public const string Worker = "inference-worker";

    /// <summary>Result storage (<see cref="StoreResult"/>).</summary>
    public const string Results = "inference-results";
}
