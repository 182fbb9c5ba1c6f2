using Inference.Server.Quota;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Quota;

public sealed class InProcessQuotaLedgerSpecs : QuotaLedgerSpecs
{
    public InProcessQuotaLedgerSpecs() =>
        Ledger = new InProcessQuotaLedger(Options.Create(new QuotaOptions()), Clock);

    protected override IQuotaLedger Ledger { get; }
}
