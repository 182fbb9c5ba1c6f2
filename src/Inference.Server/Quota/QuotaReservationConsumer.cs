using Inference.Orchestration.Protocol;
using Inference.Server.Tenants;
using MassTransit;

namespace Inference.Server.Quota;

/// <summary>
/// Reserves a request's tokens before inference. The ledger decides once per request, so a redelivered message
/// republishes the first decision and counts nothing.
/// </summary>
public sealed class QuotaReservationConsumer(IQuotaLedger ledger, TenantPlans tenants) : IConsumer<ReserveQuota>
{
    public async Task Consume(ConsumeContext<ReserveQuota> context)
    {
        var message = context.Message;
        var plan = await tenants.GetAsync(message.TenantId, context.CancellationToken).ConfigureAwait(false);
        var limits = new QuotaLimits(plan.TokensPerMinute ?? 0, plan.TokensPerDay ?? 0);
        var decision = await ledger.ReserveAsync(new QuotaReservation(message.TenantId, message.InferenceId, message.Tokens),
            limits, context.CancellationToken).ConfigureAwait(false);

        if (decision.IsReserved)
        {
            await context.Publish(new QuotaReserved { InferenceId = message.InferenceId, Tokens = decision.Tokens },
                context.CancellationToken).ConfigureAwait(false);
            return;
        }

        await context.Publish(new QuotaRejected
        {
            InferenceId = message.InferenceId,
            Limit = decision.Rejection.Code,
            LimitValue = decision.Rejection.LimitTokens,
            Remaining = decision.Rejection.RemainingTokens,
            RetryAfter = decision.Rejection.RetryAfter,
        }, context.CancellationToken).ConfigureAwait(false);
    }
}
