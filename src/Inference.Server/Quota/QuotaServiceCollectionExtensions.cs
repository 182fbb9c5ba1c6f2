using Microsoft.Extensions.DependencyInjection.Extensions;
using StackExchange.Redis;

namespace Inference.Server.Quota;

/// <summary>Registers one of the two <see cref="IQuotaLedger"/> implementations.</summary>
public static class QuotaServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="RedisQuotaLedger"/> as the <see cref="IQuotaLedger"/>, with <see cref="QuotaOptions"/>
    /// bound from the configuration section <c>Quota</c>. The host registers the <see cref="IConnectionMultiplexer"/>.
    /// </summary>
    public static IServiceCollection AddRedisQuotaLedger(this IServiceCollection services)
    {
        AddQuotaOptions(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IQuotaLedger, RedisQuotaLedger>();
        return services;
    }

    /// <summary>
    /// Registers <see cref="InProcessQuotaLedger"/> as the <see cref="IQuotaLedger"/>, for the single-process mode
    /// where every role runs in one process and no Redis is configured.
    /// </summary>
    public static IServiceCollection AddInProcessQuotaLedger(this IServiceCollection services)
    {
        AddQuotaOptions(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IQuotaLedger, InProcessQuotaLedger>();
        return services;
    }

    private static void AddQuotaOptions(IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<QuotaOptions>()
            .BindConfiguration(QuotaOptions.SectionName)
            .Validate(options => !string.IsNullOrWhiteSpace(options.KeyPrefix), "Quota:KeyPrefix must not be empty.")
            .Validate(
                options => options.ReservationRetention > TimeSpan.Zero,
                "Quota:ReservationRetention must be positive.")
            .ValidateOnStart();
    }
}
