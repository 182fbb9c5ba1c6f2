using Inference.Contracts;
using MassTransit;

namespace Inference.Server.Quota;

public sealed class QuotaConsumerDefinition : ConsumerDefinition<QuotaConsumer>
{
    /// <summary>Retry intervals of <see cref="ReserveQuota"/>, in milliseconds: 3.6 s in all.</summary>
    internal static readonly int[] ReserveRetries = [100, 500, 1000, 2000];

    /// <summary>Retry intervals of <see cref="SettleQuota"/> and <see cref="ReleaseQuota"/>, in milliseconds: about 8 minutes in all.</summary>
    internal static readonly int[] OutcomeRetries = [50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000];

    public QuotaConsumerDefinition() => EndpointName = InferenceEndpoints.Quota;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<QuotaConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseInMemoryOutbox(context);

        // A reservation is waited for: after a few seconds its fault reaches the saga, which fails the request.
        consumerConfigurator.Message<ReserveQuota>(message => message.UseMessageRetry(retry => retry.Intervals(ReserveRetries)));

        // A settlement or release has nobody waiting and must not be lost: one that gave up would leave the tokens
        // counted until their day ends. They ride out a Redis restart or failover of several minutes.
        consumerConfigurator.Message<SettleQuota>(message => message.UseMessageRetry(retry => retry.Intervals(OutcomeRetries)));
        consumerConfigurator.Message<ReleaseQuota>(message => message.UseMessageRetry(retry => retry.Intervals(OutcomeRetries)));
    }
}
