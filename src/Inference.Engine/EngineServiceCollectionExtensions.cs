using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Inference.Engine;

/// <summary>Registers the inference engine with a host.</summary>
public static class EngineServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="EngineOptions"/> bound from the <c>Engine</c> section of <paramref name="configuration"/> and
    /// validated at start, and the <see cref="ModelCatalog"/> as a singleton that the container disposes, with its
    /// sessions, at shutdown. Models are reached through the catalogue.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configuration">The application's root configuration.</param>
    public static IServiceCollection AddInferenceEngine(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<EngineOptions>()
            .Bind(configuration.GetSection(EngineOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EngineOptions>, EngineOptionsValidator>());
        services.TryAddSingleton<ModelCatalog>();
        return services;
    }
}
