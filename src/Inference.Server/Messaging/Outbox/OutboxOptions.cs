using System.ComponentModel.DataAnnotations;

namespace Inference.Server.Messaging.Outbox;

/// <summary>Section <c>Outbox</c>: how messages left in the outbox by a process that could not send them are delivered.</summary>
public sealed class OutboxOptions
{
    public const string Section = "Outbox";

    /// <summary>
    /// How old a message must be before the sweeper takes it over from the process that wrote it, which normally sends
    /// it within milliseconds of its commit. Messages older than this were left by a process that died, lost its broker
    /// connection or its database in between.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan SweepAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the orchestrator looks for such messages.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most requests whose messages one sweep delivers; the rest wait for the next sweep.</summary>
    [Range(1, 10_000)]
    public int SweepBatchSize { get; set; } = 200;

    /// <summary>
    /// How long one send may wait for the broker before the delivery is given up and left for the sweeper. Without it,
    /// a send during a broker outage would hold its caller (an API request, a saga transition) until the broker is back.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
