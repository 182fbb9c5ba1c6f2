using Inference.Engine.Registry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Inference.Engine;

/// <summary>Registers the inference engine with a host.</summary>
public static class EngineServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="EngineOptions"/> bound from the <c>Engine</c> section of <paramref name="configuration"/>, the
    /// model registry bound from its <c>Models</c> section, both validated at start, and the <see cref="ModelCatalog"/>
    /// as a singleton that is built at start (so a tokenizer that does not load stops it too) and that the container
    /// disposes, with its sessions, at shutdown. Models are reached through the catalogue.
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
        services.AddOptions<ModelRegistryOptions>()
            .Configure(options =>
            {
                foreach (var entry in configuration.GetSection(ModelRegistryOptions.SectionName).GetChildren())
                {
                    options.Models.Add(entry.Get<ModelOptions>() ?? new ModelOptions());
                }
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ModelRegistryOptions>, ModelRegistryValidator>());
        services.TryAddSingleton(provider => new ModelCatalog(
            provider.GetRequiredService<IOptions<EngineOptions>>(),
            provider.GetRequiredService<IOptions<ModelRegistryOptions>>(),
            provider.GetRequiredService<ILoggerFactory>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ModelCatalogStartup>());
        return services;
    }

    /// <summary>Builds the catalogue when the host starts rather than on its first use (no session is created).</summary>
    private sealed class ModelCatalogStartup(IServiceProvider services) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            _ = services.GetRequiredService<ModelCatalog>();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
