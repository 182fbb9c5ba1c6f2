using Inference.Server.Persistence;
using Inference.Server.Worker;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Inference.Server.Hosting;

/// <summary>Ready means the database answers (for the roles that keep state).</summary>
internal sealed class DatabaseReadinessCheck(InferenceDbContext db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await db.Database.CanConnectAsync(cancellationToken).ConfigureAwait(false)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("The database does not accept connections.");
}

/// <summary>Ready means Redis answers a PING (for the orchestrator, which keeps quota there).</summary>
internal sealed class RedisReadinessCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var latency = await redis.GetDatabase().PingAsync().ConfigureAwait(false);
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:F1} ms");
        }
        catch (RedisException exception)
        {
            return HealthCheckResult.Unhealthy("Redis does not answer.", exception);
        }
    }
}

/// <summary>
/// Ready means every model this worker serves is loaded and warm (<see cref="ModelWarmUp"/>): a worker that is still
/// loading, or failed to, is not sent traffic by an orchestrator that reads readiness, and a rollout waits for it.
/// </summary>
internal sealed class WorkerReadinessCheck(WorkerModels models) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var ids = string.Join(", ", models.Models.Select(model => model.Descriptor.Id));
        return Task.FromResult(models.WarmUpFailure is { } failure
            ? HealthCheckResult.Unhealthy($"Warming up failed: {failure}")
            : models.IsWarm
                ? HealthCheckResult.Healthy($"Models warm: {ids}")
                : HealthCheckResult.Unhealthy($"Models still loading: {ids}"));
    }
}
