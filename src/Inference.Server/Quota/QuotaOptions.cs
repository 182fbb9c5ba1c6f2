namespace Inference.Server.Quota;

/// <summary>Settings of the quota ledger, bound from the configuration section <see cref="SectionName"/>.</summary>
public sealed class QuotaOptions
{
    public const string SectionName = "Quota";

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
}
