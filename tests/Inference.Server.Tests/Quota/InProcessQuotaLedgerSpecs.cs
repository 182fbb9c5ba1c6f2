using Inference.Server.Quota;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Quota;

public sealed class InProcessQuotaLedgerSpecs : QuotaLedgerSpecs
{
    private IQuotaLedger _ledger;

    public InProcessQuotaLedgerSpecs() => _ledger = NewLedger();

    protected override IQuotaLedger Ledger => _ledger;

    /// <summary>A restarted process: a new ledger over the same database.</summary>
    protected override Task LoseDataAsync()
    {
        _ledger = NewLedger();
        return Task.CompletedTask;
    }

    private InProcessQuotaLedger NewLedger() => new(Snapshots, Options.Create(new QuotaOptions()), Clock);
}
