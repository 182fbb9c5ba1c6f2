using System.Text.Json;
using FluentValidation;
using Inference.Server.Tenants;
using Microsoft.AspNetCore.Authentication;
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
        builder.Services.AddProblemDetails(problems => problems.CustomizeProblemDetails = Problems.AddCodeToFrameworkProblems);
        builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
        builder.Services.AddValidatorsFromAssemblyContaining<CreateInferenceRequestValidator>(ServiceLifetime.Singleton);

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
        return builder;
    }

    public static WebApplication MapInferenceApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapOpenApi();
        app.MapInferencesApiV1();
        return app;
    }
}
