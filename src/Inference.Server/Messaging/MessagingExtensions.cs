using Inference.Server.Hosting;
using MassTransit;

namespace Inference.Server.Messaging;

public static class MessagingExtensions
{
    /// <summary>
    /// The bus, with what <paramref name="features"/> consume on it (the caller decides per role). RabbitMQ when
    /// <c>ConnectionStrings:RabbitMq</c> is set, otherwise MassTransit's in-memory transport (one process runs every role).
    /// </summary>
    public static IHostApplicationBuilder AddInferenceMessaging(this IHostApplicationBuilder builder,
        Infrastructure infrastructure, Action<IBusRegistrationConfigurator> features)
    {
        builder.Services.AddOptions<MessagingOptions>().BindConfiguration(MessagingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddMassTransit(bus =>
        {
            // MassTransit reports usage to its vendor over the internet by default; a self-hosted service must not.
            bus.DisableUsageTelemetry();
            features(bus);

            if (infrastructure.RabbitMq is { } rabbitMq)
            {
                bus.UsingRabbitMq((context, transport) =>
                {
                    transport.Host(rabbitMq);
                    transport.ConfigureEndpoints(context);
                    ConfigureOwnEndpoints(context, transport);
                });
            }
            else
            {
                bus.UsingInMemory((context, transport) =>
                {
                    transport.ConfigureEndpoints(context);
                    ConfigureOwnEndpoints(context, transport);
                });
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

    private static void ConfigureOwnEndpoints(IBusRegistrationContext context, IReceiveConfigurator transport)
    {
        foreach (var endpoints in context.GetServices<IBusEndpoints>())
            endpoints.Configure(context, transport);
    }
}
