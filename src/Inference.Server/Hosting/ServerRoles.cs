namespace Inference.Server.Hosting;

/// <summary>What one process runs. The same build serves a laptop (<see cref="All"/>) and a cluster (one role each).</summary>
[Flags]
public enum ServerRoles
{
    /// <summary>The REST front.</summary>
    Api = 1,

    /// <summary>The saga, the quota consumer and the result store.</summary>
    Orchestrator = 2,

    /// <summary>Model inference: the deployment that scales with load.</summary>
    Worker = 4,

    All = Api | Orchestrator | Worker,
}

public static class ServerRolesConfiguration
{
    /// <summary>Configuration key of the role: <c>--role worker</c> on the command line, or <c>Server__Role</c> in the
    /// environment. Namespaced so that an unrelated <c>ROLE</c> variable cannot turn a process into something else.</summary>
    public const string Key = "Server:Role";

    /// <summary>Maps the <c>--role</c> switch onto <see cref="Key"/>.</summary>
    public static IReadOnlyDictionary<string, string> CommandLineSwitches { get; } =
        new Dictionary<string, string>(StringComparer.Ordinal) { ["--role"] = Key };

    /// <summary>True when these roles read or write the database: the API and the orchestrator do, workers do not.</summary>
    public static bool UsesDatabase(this ServerRoles roles) => (roles & (ServerRoles.Api | ServerRoles.Orchestrator)) != 0;

    public static ServerRoles GetServerRoles(this IConfiguration configuration) =>
        configuration[Key]?.Trim().ToLowerInvariant() switch
        {
            null or "" or "all" => ServerRoles.All,
            "api" => ServerRoles.Api,
            "orchestrator" => ServerRoles.Orchestrator,
            "worker" => ServerRoles.Worker,
            var other => throw new InvalidOperationException(
                $"Unknown role '{other}'. Use --role api, orchestrator, worker or all (or Server__Role)."),
        };
}
