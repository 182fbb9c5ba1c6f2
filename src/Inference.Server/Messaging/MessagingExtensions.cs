using Inference.Server.Hosting;
using Inference.Server.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Persistence.Sagas;
using Inference.Server.Quota;
using Inference.Server.Results;
using Inference.Server.Worker;
using MassTransit;

namespace Inference.Server.Messaging;

public static class MessagingExtensions
{
    /// <summary>
    /// The bus and what this process consumes: the saga, quota and results for the orchestrator, models for the
    /// worker, replies to the API's submissions. RabbitMQ when <c>ConnectionStrings:RabbitMq</c> is set,
    /// otherwise MassTransit's in-memory transport (one process runs every role).
    /// </summary>
    public static IHostApplicationBuilder AddInferenceMessaging(this IHostApplicationBuilder builder, ServerRoles roles,
        Infrastructure infrastructure)
    {
        builder.Services.AddOptions<MessagingOptions>().BindConfiguration(MessagingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddMassTransit(bus =>
        {
            // MassTransit reports usage to its vendor over the internet by default; a self-hosted service must not.
            bus.DisableUsageTelemetry();
            bus.AddInferenceConsumers(roles);

            if (infrastructure.RabbitMq is { } rabbitMq)
            {
                bus.UsingRabbitMq((context, transport) =>
                {
                    transport.Host(rabbitMq);
                    transport.ConfigureEndpoints(context);
                });
            }
            else
            {
                bus.UsingInMemory((context, transport) => transport.ConfigureEndpoints(context));
            }
        });

        // The host has started only once the bus has: a process told to stop while its bus was still connecting would
        // otherwise go on consuming after its services were disposed, faulting every message it took. Stopping waits
        // for the messages in hand to finish.
        builder.Services.AddOptions<MassTransitHostOptions>().Configure(host =>
        {
            host.WaitUntilStarted = true;
            host.StartTimeout = TimeSpan.FromSeconds(60);
            host.StopTimeout = TimeSpan.FromSeconds(30);
        });

        return builder;
    }

    /// <summary>The consumers and saga of <paramref name="roles"/>; also what the test harness registers.</summary>
    public static IBusRegistrationConfigurator AddInferenceConsumers(this IBusRegistrationConfigurator bus, ServerRoles roles)
    {
        if (roles.HasFlag(ServerRoles.Orchestrator))
        {
            bus.AddSagaStateMachine<InferenceStateMachine, InferenceState, InferenceStateDefinition>()
                .EntityFrameworkRepository<InferenceState, InferenceDbContext>();
            bus.AddConsumer<QuotaReservationConsumer, QuotaReservationConsumerDefinition>();
            bus.AddConsumer<QuotaSettlementConsumer, QuotaSettlementConsumerDefinition>();
            bus.AddConsumer<StoreResultConsumer, StoreResultConsumerDefinition>();
        }

        if (roles.HasFlag(ServerRoles.Worker))
            bus.AddConsumer<RunInferenceConsumer, RunInferenceConsumerDefinition>();

        return bus;
    }
}
