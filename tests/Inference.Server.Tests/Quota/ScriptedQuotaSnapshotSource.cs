using Inference.Server.Quota;

namespace Inference.Server.Tests.Quota;

/// <summary>
/// The billing facts a test says the database holds: what a lost ledger is rebuilt from. Empty unless a test fills it,
/// as for a platform that has billed nothing yet.
/// </summary>
public sealed class ScriptedQuotaSnapshotSource : IQuotaSnapshotSource
{
    private int _reads;

    public List<SettledTokens> Settled { get; } = [];

    public List<OpenReservation> Open { get; } = [];

    /// <summary>How many times a ledger has read the snapshot: once per rebuild.</summary>
    public int Reads => Volatile.Read(ref _reads);

    public Task<QuotaSnapshot> ReadAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        return Task.FromResult(new QuotaSnapshot([.. Settled], [.. Open]));
    }
}
