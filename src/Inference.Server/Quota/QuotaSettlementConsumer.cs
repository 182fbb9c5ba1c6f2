using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Server.Quota;

/// <summary>
/// Settles a request's reservation with its actual usage, or releases it. Each acts at most once per request in the
/// ledger, so redelivered and repeated messages change nothing.
/// </summary>
public sealed class QuotaSettlementConsumer(IQuotaLedger ledger) : IConsumer<SettleQuota>, IConsumer<ReleaseQuota>
{
    public Task Consume(ConsumeContext<SettleQuota> context) =>
        ledger.SettleAsync(context.Message.TenantId, context.Message.InferenceId, context.Message.ActualTokens,
            context.CancellationToken);

    public Task Consume(ConsumeContext<ReleaseQuota> context) =>
        ledger.ReleaseAsync(context.Message.TenantId, context.Message.InferenceId, context.CancellationToken);
}
