namespace Inference.Contracts;

/// <summary>Queue names of the platform's receive endpoints; send commands to <c>queue:{name}</c>.</summary>
public static class InferenceEndpoints
{
    /// <summary>The inference saga: send <see cref="SubmitInference"/> here.</summary>
    public const string Orchestrator = "inference-saga";

    /// <summary>Quota reservations (<see cref="ReserveQuota"/>).</summary>
    public const string Quota = "inference-quota";

    /// <summary>Quota settlements and releases (<see cref="SettleQuota"/>, <see cref="ReleaseQuota"/>).</summary>
    public const string QuotaSettlements = "inference-quota-settlements";

    /// <summary>Model workers.</summary>
    public const string Worker = "inference-worker";

    /// <summary>Result storage.</summary>
    public const string Results = "inference-results";
}
