using Microsoft.Extensions.DependencyInjection.Extensions;
using StackExchange.Redis;

namespace Inference.Server.Quota;

/// <summary>Registers one of the two <see cref="IQuotaLedger"/> implementations.</summary>
public static class QuotaServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="RedisQuotaLedger"/> as the <see cref="IQuotaLedger"/>, with <see cref="QuotaOptions"/>
    /// bound from the configuration section <c>Quotas</c>. The host registers the <see cref="IConnectionMultiplexer"/>
    /// and the <see cref="IQuotaSnapshotSource"/> a lost ledger is rebuilt from.
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
    /// where every role runs in one process and no Redis is configured. The host registers the
    /// <see cref="IQuotaSnapshotSource"/> it rebuilds from when the process starts.
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
            .Validate(options => !string.IsNullOrWhiteSpace(options.KeyPrefix), "Quotas:KeyPrefix must not be empty.")
            .Validate(
                options => options.ReservationRetention > TimeSpan.Zero,
                "Quotas:ReservationRetention must be positive.")
            .Validate(options => options.SlotLifetime > TimeSpan.Zero, "Quotas:SlotLifetime must be positive.")
            .ValidateOnStart();
    }
}
