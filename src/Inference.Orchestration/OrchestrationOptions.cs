using System.ComponentModel.DataAnnotations;

namespace Inference.Orchestration;

/// <summary>Section <c>Orchestration</c>: how long a request may take and how its deadline is enforced.</summary>
public sealed class OrchestrationOptions
{
    public const string Section = "Orchestration";

    /// <summary>
    /// How long after submission a request must have ended. One that has not (a lost message, a stuck worker, a
    /// backlog nobody drains) fails with <c>deadline_exceeded</c> and its quota is released. Stored with each request
    /// when it is accepted, so a change applies to new requests only.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan RequestDeadline { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often the orchestrator looks for unfinished requests past their deadline.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan DeadlineSweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most overdue requests one sweep sends on; the rest wait for the next sweep.</summary>
    [Range(1, 10_000)]
    public int DeadlineSweepBatchSize { get; set; } = 500;
}
