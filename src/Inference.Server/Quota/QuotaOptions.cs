namespace Inference.Server.Quota;

/// <summary>Settings of the quota ledger, bound from the configuration section <see cref="SectionName"/>.</summary>
public sealed class QuotaOptions
{
    public const string SectionName = "Quotas";

    /// <summary>
    /// First segment of every Redis key the ledger writes, so that several deployments (or test runs) can share
    /// one Redis without seeing each other's counters.
    /// </summary>
    public string KeyPrefix { get; set; } = "inference";

    /// <summary>
    /// How long the ledger remembers each reservation. Redeliveries are idempotent only within this period, so it
    /// must outlast the longest time a message can wait in a queue or a saga can stay unfinished.
    /// </summary>
    public TimeSpan ReservationRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long a concurrency slot lasts when its reservation carries no deadline (a reserve from an older sender, or
    /// a reservation rebuilt without one): after this it frees itself even if its release never came, so a lost
    /// release cannot cost the tenant capacity for good. Must outlast the longest request.
    /// </summary>
    public TimeSpan SlotLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Redis unreachable (connection or timeout failures) =&gt; admit without counting. Off by default: an outage
    /// then holds requests until Redis is back, which keeps every limit; on, it keeps serving and stops limiting
    /// (a warning is logged at most once a minute while it does).
    /// </summary>
    public bool FailOpen { get; set; }
}
