using Inference.Engine;
using Inference.Server.Api;
using Inference.Server.Messaging;
using Inference.Server.Messaging.Outbox;
using Inference.Server.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Quota;
using Inference.Server.Results;
using Inference.Server.Tenants;
using Inference.Server.Usage;
using Inference.Server.Webhooks;
using Inference.Server.Worker;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;

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

        // Only the API and the orchestrator keep state; a worker needs the bus and its models, nothing else.
        if (roles.UsesDatabase())
        {
            builder.AddInferenceDatabase(infrastructure);
            builder.Services.AddTransactionalOutbox(sweep: roles.HasFlag(ServerRoles.Orchestrator));
            // The API stores new requests with their deadline, as the saga does for submissions over the bus.
            builder.Services.AddOrchestration(jobs: roles.HasFlag(ServerRoles.Orchestrator));
            builder.Services.AddWebhooks(dispatch: roles.HasFlag(ServerRoles.Orchestrator));
            builder.Services.AddUsage();
            health.AddCheck<DatabaseReadinessCheck>("database", tags: ["ready"]);
        }

        builder.Services.AddInferenceEngine(builder.Configuration);
        if (roles.HasFlag(ServerRoles.Orchestrator))
            builder.Services.AddQuota(infrastructure, health);
        else if (roles.HasFlag(ServerRoles.Api) && infrastructure.Redis is not null)
            builder.Services.AddQuota(infrastructure, health, decides: false);
        if (roles.HasFlag(ServerRoles.Worker))
            builder.Services.AddWorker(health);
        if (roles.HasFlag(ServerRoles.Api))
            builder.AddInferenceApi();

        builder.AddInferenceMessaging(infrastructure, bus =>
        {
            if (roles.HasFlag(ServerRoles.Orchestrator))
                bus.AddOrchestration().AddQuota().AddResults();
            if (roles.HasFlag(ServerRoles.Worker))
                bus.AddWorker();
            if (roles.HasFlag(ServerRoles.Api))
                bus.AddInferenceApi();
        });

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
