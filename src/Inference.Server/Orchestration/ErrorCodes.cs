namespace Inference.Server.Orchestration;

/// <summary>Stable codes a failed request reports in <c>error.code</c>.</summary>
public static class ErrorCodes
{
    public const string QuotaExceeded = "quota_exceeded";
    public const string QuotaUnavailable = "quota_unavailable";
    public const string InferenceFailed = "inference_failed";
    public const string ResultStoreFailed = "result_store_failed";
    public const string DeadlineExceeded = "deadline_exceeded";
}
