using System.ComponentModel.DataAnnotations;

namespace Inference.Server.Orchestration;

/// <summary>Section <c>Retention</c>: how long ended requests and their results are kept before they are deleted.</summary>
public sealed class RetentionOptions
{
    public const string Section = "Retention";

    /// <summary>
    /// How long a request is kept after it ended (Completed, Failed or Canceled), measured from its last change. After
    /// that the request and its result are deleted, and <c>GET</c> answers <c>404</c> for it. At least an hour, so
    /// that late duplicates (redeliveries, the outbox sweep) still find the request they are about.
    /// </summary>
    [Range(typeof(TimeSpan), "01:00:00", "3650.00:00:00")]
    public TimeSpan FinalAfter { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often the orchestrator looks for such requests.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Most requests deleted in one transaction; a run deletes batch after batch until none are left.</summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 500;
}
