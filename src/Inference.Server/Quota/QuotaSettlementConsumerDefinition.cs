using Inference.Contracts;
using MassTransit;

namespace Inference.Server.Quota;

/// <summary>
/// Settlements and releases have nobody waiting and must not be lost: one that gave up would leave its tokens counted
/// until their day ends. They ride out a Redis restart or failover of several minutes, on a queue of their own so
/// that reservations keep their few-second answer meanwhile.
/// </summary>
public sealed class QuotaSettlementConsumerDefinition : ConsumerDefinition<QuotaSettlementConsumer>
{
    /// <summary>Retry intervals, in milliseconds: about 8 minutes in all.</summary>
    internal static readonly int[] Retries = [50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000];

    public QuotaSettlementConsumerDefinition() => EndpointName = InferenceEndpoints.QuotaSettlements;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<QuotaSettlementConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(Retries));
}
