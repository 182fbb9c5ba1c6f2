using System.Collections.Concurrent;
using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Testing;

/// <summary>
/// The quota ledger, scripted per tenant (<see cref="ScriptedTenant.RefuseQuota"/>), with the real ledger's
/// once-per-request rules: a repeated reservation answers the first decision, and a settlement or release acts only on
/// a reservation that is still held.
/// </summary>
internal sealed class ScriptedQuotaLedger(InferenceScript script)
{
    private readonly ConcurrentDictionary<Guid, Reservation> _reservations = new();

    /// <summary>The decision for a reservation: null when reserved, the refusal otherwise.</summary>
    public QuotaRefusal? Reserve(ReserveQuota request)
    {
        var reservation = _reservations.GetOrAdd(request.InferenceId, _ =>
            script.FindTenant(request.TenantId)?.Refusal is { } refusal
                ? new Reservation(request.TenantId, 0, ReservationState.Rejected, refusal)
                : new Reservation(request.TenantId, request.Tokens, ReservationState.Held, null));
        return reservation.Refusal;
    }

    public void Settle(Guid inferenceId, long actualTokens) => Finish(inferenceId, ReservationState.Charged, actualTokens);

    public void Release(Guid inferenceId) => Finish(inferenceId, ReservationState.Released, 0);

    /// <summary>Tokens charged to <paramref name="tenantId"/> for completed requests.</summary>
    public long Charged(string tenantId) => Sum(tenantId, ReservationState.Charged);

    /// <summary>Tokens reserved for <paramref name="tenantId"/>'s requests that have not ended.</summary>
    public long Held(string tenantId) => Sum(tenantId, ReservationState.Held);

    private long Sum(string tenantId, ReservationState state) =>
        _reservations.Values.Where(x => x.State == state && x.TenantId == tenantId).Sum(x => x.Tokens);

    private void Finish(Guid inferenceId, ReservationState state, long tokens)
    {
        while (_reservations.TryGetValue(inferenceId, out var reservation) && reservation.State == ReservationState.Held)
        {
            if (_reservations.TryUpdate(inferenceId, reservation with { State = state, Tokens = tokens }, reservation))
                return;
        }
    }

    private enum ReservationState
    {
        Held,
        Rejected,
        Charged,
        Released,
    }

    private sealed record Reservation(string TenantId, long Tokens, ReservationState State, QuotaRefusal? Refusal);
}

/// <summary>Stands in for the platform's reservation consumer on <see cref="ProtocolEndpoints.Quota"/>.</summary>
internal sealed class ScriptedQuotaReservationConsumer(ScriptedQuotaLedger ledger) : IConsumer<ReserveQuota>
{
    public Task Consume(ConsumeContext<ReserveQuota> context)
    {
        var message = context.Message;
        return ledger.Reserve(message) is { } refusal
            ? context.Publish(new QuotaRejected
            {
                InferenceId = message.InferenceId,
                Limit = refusal.Limit,
                LimitValue = refusal.LimitTokens,
                Remaining = 0,
                Used = refusal.LimitTokens,
                Requested = message.Tokens,
                RetryAfter = refusal.RetryAfter,
            }, context.CancellationToken)
            : context.Publish(new QuotaReserved { InferenceId = message.InferenceId, Tokens = message.Tokens }, context.CancellationToken);
    }
}

/// <summary>Stands in for the platform's settlement consumer on <see cref="ProtocolEndpoints.QuotaSettlements"/>.</summary>
internal sealed class ScriptedQuotaSettlementConsumer(ScriptedQuotaLedger ledger) : IConsumer<SettleQuota>, IConsumer<ReleaseQuota>
{
    public Task Consume(ConsumeContext<SettleQuota> context)
    {
        ledger.Settle(context.Message.InferenceId, context.Message.ActualTokens);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<ReleaseQuota> context)
    {
        ledger.Release(context.Message.InferenceId);
        return Task.CompletedTask;
    }
}
