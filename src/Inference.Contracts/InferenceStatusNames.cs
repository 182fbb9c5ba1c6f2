namespace Inference.Contracts;

/// <summary>The statuses a request passes through, as the REST API and <see cref="InferenceStatus"/> name them.</summary>
public static class InferenceStatusNames
{
    public const string Submitted = "submitted";
    public const string QuotaReserved = "quota_reserved";
    public const string Inferring = "inferring";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Canceled = "canceled";
}
