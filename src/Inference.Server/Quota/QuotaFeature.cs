using Inference.Server.Hosting;
using MassTransit;
using StackExchange.Redis;

namespace Inference.Server.Quota;

/// <summary>Reservations and settlements of tenants' tokens, on Redis or in process.</summary>
public static class QuotaFeature
{
    /// <summary>The ledger: Redis when <c>ConnectionStrings:Redis</c> is set, else in process (one process runs every role).</summary>
    public static IServiceCollection AddQuota(this IServiceCollection services, Infrastructure infrastructure, IHealthChecksBuilder health)
    {
        ArgumentNullException.ThrowIfNull(infrastructure);
        services.AddScoped<Tenants.TenantPlans>();
        if (infrastructure.Redis is { } redis)
        {
            // Not aborting on a failed first connect: the multiplexer keeps retrying, and readiness reports it.
            var redisOptions = ConfigurationOptions.Parse(redis);
            redisOptions.AbortOnConnectFail = false;
            services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(redisOptions));
            services.AddRedisQuotaLedger();
            health.AddCheck<RedisReadinessCheck>("redis", tags: ["ready"]);
        }
        else
        {
            services.AddInProcessQuotaLedger();
        }

        return services;
    }

    /// <summary>The reservation and settlement consumers, each on its own queue.</summary>
    public static IBusRegistrationConfigurator AddQuota(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<QuotaReservationConsumer, QuotaReservationConsumerDefinition>();
        bus.AddConsumer<QuotaSettlementConsumer, QuotaSettlementConsumerDefinition>();
        return bus;
    }
}
