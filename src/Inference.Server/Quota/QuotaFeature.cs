using Inference.Server.Hosting;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;
using StackExchange.Redis;

namespace Inference.Server.Quota;

/// <summary>Reservations and settlements of tenants' tokens, on Redis or in process.</summary>
public static class QuotaFeature
{
    /// <summary>
    /// The ledger: Redis when <c>ConnectionStrings:Redis</c> is set, else in process (one process runs every role). An
    /// orchestrator (<paramref name="decides"/>) reserves and settles, rebuilds lost windows at start, and is not ready
    /// without Redis; an api process with Redis only reads the windows (<c>GET /v1/quota</c>, the rate-limit headers) and
    /// stays ready without it, since submissions do not need it.
    /// </summary>
    public static IServiceCollection AddQuota(this IServiceCollection services, Infrastructure infrastructure, IHealthChecksBuilder health,
        bool decides = true)
    {
        ArgumentNullException.ThrowIfNull(infrastructure);
        services.TryAddScoped<Tenants.TenantPlans>();
        if (infrastructure.Redis is { } redis)
        {
            // Not aborting on a failed first connect: the multiplexer keeps retrying, and readiness reports it.
            var redisOptions = ConfigurationOptions.Parse(redis);
            redisOptions.AbortOnConnectFail = false;
            services.TryAddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(redisOptions));
            services.AddRedisQuotaLedger();
            if (decides)
                health.AddCheck<RedisReadinessCheck>("redis", tags: ["ready"]);
        }
        else
        {
            services.AddInProcessQuotaLedger();
        }

        if (decides)
            services.AddHostedService<QuotaRestoreOnStart>();
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
