using System.ComponentModel.DataAnnotations;

namespace Inference.Server.Api;

/// <summary>Section <c>Api</c>.</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>How long <c>POST /v1/inferences</c> waits for the quota decision before answering 202 anyway.</summary>
    /// <remarks>At least a millisecond: MassTransit's request client refuses a zero timeout, so every POST would fail.</remarks>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan QuotaDecisionTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
