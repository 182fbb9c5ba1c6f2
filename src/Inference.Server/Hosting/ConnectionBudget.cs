using Inference.Server.Api;
using Inference.Server.Messaging;
using Npgsql;

namespace Inference.Server.Hosting;

/// <summary>
/// Checks at start that what a process may do at once fits in its PostgreSQL connection pool. Past the pool, work
/// waits for a connection and then fails; a process that cannot keep its own promise refuses to start instead.
/// </summary>
internal static class ConnectionBudget
{
    /// <summary>Readiness checks, which take a connection of their own now and then.</summary>
    private const int HealthChecks = 1;

    public static void Ensure(ServerRoles roles, string postgres, IConfiguration configuration)
    {
        var messaging = configuration.GetSection(MessagingOptions.Section).Get<MessagingOptions>() ?? new MessagingOptions();
        var api = configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();

        var uses = new List<(string What, int Connections)> { ("readiness checks", HealthChecks) };
        if (roles.HasFlag(ServerRoles.Orchestrator))
        {
            uses.Add(("the saga, quota and result endpoints (3 x Messaging:ConcurrentMessageLimit)", 3 * messaging.ConcurrentMessageLimit));
            uses.Add(("the deadline and outbox sweepers and the retention job", 3));
            uses.Add(("the webhook dispatcher", Webhooks.WebhookDispatcher.Connections));
        }

        if (roles.HasFlag(ServerRoles.Api))
        {
            uses.Add(("Api:MaxConcurrentRequests", api.MaxConcurrentRequests));
            uses.Add(("the event streams' poll", 1));
        }

        var pool = new NpgsqlConnectionStringBuilder(postgres).MaxPoolSize;
        var needed = uses.Sum(x => x.Connections);
        if (needed > pool)
        {
            throw new InvalidOperationException(
                $"Role '{roles}' may use {needed} database connections at once ({string.Join(", ", uses.Select(x => $"{x.What}: {x.Connections}"))}), " +
                $"but ConnectionStrings:Postgres allows a pool of {pool} (Maximum Pool Size). Lower Messaging:ConcurrentMessageLimit or " +
                "Api:MaxConcurrentRequests, or raise Maximum Pool Size (within the server's max_connections across all processes).");
        }
    }
}
