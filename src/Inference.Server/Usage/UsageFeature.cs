using Inference.Orchestration;
using Inference.Server.Persistence.Sagas;
using Inference.Server.Quota;

namespace Inference.Server.Usage;

/// <summary>
/// The usage ledger: the record a completed request's transition writes, the reports read from it, and the quota
/// snapshot a ledger that lost its data is rebuilt from.
/// </summary>
public static class UsageFeature
{
    public static IServiceCollection AddUsage(this IServiceCollection services)
    {
        services.AddSingleton<ISagaSaveObserver<InferenceState>, UsageRecorder>();
        services.AddScoped<UsageReports>();
        services.AddSingleton<DbQuotaSnapshotSource>();
        services.AddSingleton<IQuotaSnapshotSource>(provider => provider.GetRequiredService<DbQuotaSnapshotSource>());
        return services;
    }
}
