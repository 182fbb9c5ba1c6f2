using Inference.Orchestration.Protocol;
using Inference.Server.Tenants;
using MassTransit;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Inference.Server.Quota;

/// <summary>
/// Reserves a request's tokens before inference. The ledger decides once per request, so a redelivered message
/// republishes the first decision and counts nothing.
/// </summary>
/// <remarks>
/// With <see cref="QuotaOptions.FailOpen"/>, a Redis that cannot be reached admits the request without counting it
/// (and its later settlement finds no reservation, which is a no-op); otherwise the failure goes to the endpoint's
/// retry, which waits the outage out.
/// </remarks>
public sealed partial class QuotaReservationConsumer(
    IQuotaLedger ledger,
    TenantPlans tenants,
    IOptions<QuotaOptions> options,
    TimeProvider timeProvider,
    ILogger<QuotaReservationConsumer> logger) : IConsumer<ReserveQuota>
{
    /// <summary>The last time (Unix ms) a fail-open admission was logged, shared by every instance: one warning a minute.</summary>
    private static long s_lastFailOpenWarningMs;

    public async Task Consume(ConsumeContext<ReserveQuota> context)
    {
        var message = context.Message;
        var plan = await tenants.GetAsync(message.TenantId, context.CancellationToken).ConfigureAwait(false);

        QuotaDecision decision;
        try
        {
            decision = await ledger.ReserveAsync(new QuotaReservation(message.TenantId, message.InferenceId, message.Tokens, message.NotAfter),
                plan, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (
            options.Value.FailOpen && exception is RedisConnectionException or RedisTimeoutException)
        {
            WarnFailOpen(exception);
            decision = QuotaDecision.Reserved(message.Tokens);
        }

        if (decision.IsReserved)
        {
            await context.Publish(new QuotaReserved { InferenceId = message.InferenceId, Tokens = decision.Tokens },
                context.CancellationToken).ConfigureAwait(false);
            return;
        }

        var rejection = decision.Rejection;
        await context.Publish(new QuotaRejected
        {
            InferenceId = message.InferenceId,
            Limit = rejection.Code,
            LimitValue = rejection.LimitValue,
            Remaining = Math.Max(0, rejection.LimitValue - rejection.Used),
            Used = rejection.Used,
            Requested = rejection.Requested,
            RetryAfter = rejection.RetryAfter,
        }, context.CancellationToken).ConfigureAwait(false);
    }

    private void WarnFailOpen(Exception exception)
    {
        var now = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var last = Interlocked.Read(ref s_lastFailOpenWarningMs);
        if (now - last < 60_000 || Interlocked.CompareExchange(ref s_lastFailOpenWarningMs, now, last) != last)
            return;

        LogFailOpen(exception);
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Redis is unreachable and Quotas:FailOpen is on: requests are admitted without counting their quota")]
    private partial void LogFailOpen(Exception exception);
}
