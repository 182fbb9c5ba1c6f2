using System.Text.Json;
using System.Threading.RateLimiting;
using FluentValidation;
using Inference.Contracts;
using Inference.Server.Tenants;
using MassTransit;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.OpenApi;

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
        builder.Services.AddOptions<Admin.AdminOptions>().BindConfiguration(Admin.AdminOptions.Section);
        builder.Services.AddScoped(provider => provider.GetRequiredService<IBus>()
            .CreateRequestClient<CancelInference>(InferenceEndpoints.OrchestratorAddress, InferenceCancellation.AnswerTimeout));

        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization();
        builder.Services.AddOpenApi(openApi => openApi.AddSchemaTransformer((schema, context, _) =>
        {
            // The schema generator knows nothing of a custom converter's JSON; this one reads and writes strings.
            if (context.JsonPropertyInfo?.CustomConverter is FaithfulJsonString.Converter)
                schema.Type = JsonSchemaType.String | JsonSchemaType.Null;
            return Task.CompletedTask;
        }));

        // Bounds the requests that may hold a database connection at once, so that the API cannot drain the pool the
        // saga needs; the excess waits, then is told to come back, before it costs anything.
        var api = builder.Configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.AddConcurrencyLimiter(ConcurrencyPolicy, concurrency =>
            {
                concurrency.PermitLimit = api.MaxConcurrentRequests;
                concurrency.QueueLimit = api.MaxQueuedRequests;
                concurrency.QueueProcessingOrder = QueueProcessingOrder.OldestFirst;
            });
            limiter.OnRejected = (context, _) => new ValueTask(Problems.Unavailable(context.HttpContext,
                "The server is at its limit of concurrent requests; nothing was accepted.").WriteAsync(context.HttpContext));
        });
        return builder;
    }

    /// <summary>The rate limiter policy that bounds concurrent <c>/v1</c> requests.</summary>
    internal const string ConcurrencyPolicy = "api-concurrency";

    public static WebApplication MapInferenceApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.MapOpenApi();
        app.MapInferencesApiV1();
        app.MapModelsApiV1();
        Admin.WebhooksAdminApi.MapWebhooksAdminApiV1(app);
        return app;
    }
}
