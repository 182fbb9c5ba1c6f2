using Inference.Engine;
using Inference.Server.Api;
using Inference.Server.Messaging;
using Inference.Server.Messaging.Outbox;
using Inference.Server.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Quota;
using Inference.Server.Tenants;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Inference.Server.Hosting;

public static class PlatformExtensions
{
    /// <summary>
    /// Everything the roles of this process need. With no connection strings, every role runs here on embedded
    /// defaults: SQLite, MassTransit's in-memory transport and the in-process quota ledger.
    /// </summary>
    public static WebApplicationBuilder AddInferencePlatform(this WebApplicationBuilder builder)
    {
        var roles = builder.Configuration.GetServerRoles();
        var infrastructure = Infrastructure.From(builder.Configuration);
        infrastructure.EnsureSufficientFor(roles);
        if (infrastructure.Postgres is { } postgres && roles.UsesDatabase())
            ConnectionBudget.Ensure(roles, postgres, builder.Configuration);

        builder.Services.AddSingleton(infrastructure);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddMemoryCache();
        var health = builder.Services.AddHealthChecks();
        builder.Services.AddOptions<DevTenantOptions>().BindConfiguration(DevTenantOptions.Section);
        builder.Services.AddScoped<DevTenantSeeder>();
        builder.Services.AddScoped<TenantQuotaLimits>();

        // Only the API and the orchestrator keep state; a worker needs the bus and its models, nothing else.
        if (roles.UsesDatabase())
        {
            builder.AddInferenceDatabase(infrastructure);
            builder.Services.AddTransactionalOutbox(sweep: roles.HasFlag(ServerRoles.Orchestrator));

            // The API stores new requests with their deadline, as the saga does for submissions over the bus.
            builder.Services.AddOptions<OrchestrationOptions>().BindConfiguration(OrchestrationOptions.Section)
                .ValidateDataAnnotations().ValidateOnStart();
            health.AddCheck<DatabaseReadinessCheck>("database", tags: ["ready"]);
        }

        builder.Services.AddInferenceEngine(builder.Configuration);
        builder.AddInferenceMessaging(roles, infrastructure);

        if (roles.HasFlag(ServerRoles.Orchestrator))
        {
            builder.Services.AddHostedService<DeadlineSweeper>();

            if (infrastructure.Redis is { } redis)
            {
                // Not aborting on a failed first connect: the multiplexer keeps retrying, and readiness reports it.
                var redisOptions = ConfigurationOptions.Parse(redis);
                redisOptions.AbortOnConnectFail = false;
                builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(redisOptions));
                builder.Services.AddRedisQuotaLedger();
                health.AddCheck<RedisReadinessCheck>("redis", tags: ["ready"]);
            }
            else
            {
                builder.Services.AddInProcessQuotaLedger();
            }
        }

        if (roles.HasFlag(ServerRoles.Worker))
            builder.Services.AddHostedService<ModelWarmUp>();

        if (roles.HasFlag(ServerRoles.Api))
            builder.AddInferenceApi();

        return builder;
    }

    /// <summary>Migrates and seeds the database when this process's roles use one.</summary>
    public static async Task PrepareInferencePlatformAsync(this WebApplication app)
    {
        if (app.Configuration.GetServerRoles().UsesDatabase())
            await app.PrepareDatabaseAsync().ConfigureAwait(false);
    }

    public static WebApplication MapInferencePlatform(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });

        if (app.Configuration.GetServerRoles().HasFlag(ServerRoles.Api))
            app.MapInferenceApi();

        return app;
    }
}
