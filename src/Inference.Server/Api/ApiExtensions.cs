using System.Text.Json;
using System.Threading.RateLimiting;
using FluentValidation;
using Inference.Contracts;
using Inference.Server.Tenants;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.AspNetCore.Authentication;

namespace Inference.Server.Api;

public static class ApiExtensions
{
    /// <summary>The REST front: API-key authentication, snake_case JSON, problem+json errors, validators.</summary>
    public static IHostApplicationBuilder AddInferenceApi(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ApiOptions>().BindConfiguration(ApiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            json.SerializerOptions.DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower;
        });
        builder.Services.AddOpenAiErrors();
        builder.Services.AddProblemDetails(problems => problems.CustomizeProblemDetails = Problems.AddCodeToFrameworkProblems);
        builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
        builder.Services.AddExceptionHandler<OutageExceptionHandler>();
        builder.Services.AddValidatorsFromAssemblyContaining<CreateInferenceRequestValidator>(ServiceLifetime.Singleton);
        builder.Services.AddScoped<InferenceSubmissions>();
        builder.Services.TryAddSingleton<Orchestration.IServedModels, Orchestration.CatalogModels>();
        builder.Services.TryAddScoped<TenantPlans>();
        builder.Services.AddOptions<Admin.AdminOptions>().BindConfiguration(Admin.AdminOptions.Section);
        builder.Services.AddOptions<ApiKeyOptions>().BindConfiguration(ApiKeyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddScoped<TenantAdministration>();
        builder.Services.AddScoped(provider => provider.GetRequiredService<IBus>()
            .CreateRequestClient<CancelInference>(InferenceEndpoints.OrchestratorAddress, InferenceCancellation.AnswerTimeout));

        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization();
        builder.Services.AddOpenApi(openApi => openApi.AddApiDocument());

        // Bounds the requests that may hold a database connection at once, so that the API cannot drain the pool the
        // saga needs; the excess waits, then is told to come back, before it costs anything. A submission takes its slot
        // itself (see CreateAsync), so that one waiting for its request to end holds none.
        builder.Services.AddSingleton<ApiConcurrency>();
        builder.Services.AddSingleton<InferenceWaiters>();
        builder.Services.AddSingleton<InferenceEventHub>();
        builder.Services.AddSingleton<InferenceOutputHub>();
        builder.Services.AddHostedService<InferenceEventPoller>();
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(ConcurrencyPolicy, context =>
                RateLimitPartition.Get(0, _ => context.RequestServices.GetRequiredService<ApiConcurrency>().Partition()));
            limiter.OnRejected = (context, _) =>
                new ValueTask(Problems.Unavailable(context.HttpContext, ApiConcurrency.RefusedDetail).WriteAsync(context.HttpContext));
        });
        return builder;
    }

    /// <summary>
    /// What the API consumes: every request's outcome event, on a queue of this process's own (deleted when it stops),
    /// so that a submission waiting here (<c>Prefer: wait</c>) hears of its end whichever process decided it.
    /// </summary>
    public static IBusRegistrationConfigurator AddInferenceApi(this IBusRegistrationConfigurator bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.AddConsumer<InferenceOutcomeConsumer>().Endpoint(endpoint =>
        {
            endpoint.Name = $"inference-api-outcomes-{NewId.NextGuid():N}";
            endpoint.Temporary = true;
        });

        // A generation's pieces, for the streams this process relays: in order, so one at a time.
        bus.AddConsumer<InferenceOutputDeltaConsumer>().Endpoint(endpoint =>
        {
            endpoint.Name = $"inference-api-output-{NewId.NextGuid():N}";
            endpoint.Temporary = true;
            endpoint.ConcurrentMessageLimit = 1;
        });
        return bus;
    }

    /// <summary>The rate limiter policy that bounds concurrent <c>/v1</c> requests.</summary>
    internal const string ConcurrencyPolicy = "api-concurrency";

    public static WebApplication MapInferenceApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimitHeaders();
        app.UseRateLimiter();
        app.MapApiDocument();
        app.MapInferencesApiV1();
        app.MapModelsApiV1();
        app.MapEmbeddingsApiV1();
        app.MapCompletionsApiV1();
        app.MapQuotaApiV1();
        Admin.WebhooksAdminApi.MapWebhooksAdminApiV1(app);
        app.MapUsageApiV1();
        Admin.UsageAdminApi.MapUsageAdminApiV1(app);
        Admin.TenantsAdminApi.MapTenantsAdminApiV1(app);
        Admin.AdminAuthentication.LogWhenOff(app);
        return app;
    }
}
