namespace Inference.Server.Hosting;

/// <summary>
/// Which real services this process is configured with. Without any, every role runs in this one process on embedded
/// stand-ins; see <see cref="EnsureSufficientFor"/> for the combinations allowed.
/// </summary>
public sealed record Infrastructure(string? Postgres, Uri? RabbitMq, string? Redis)
{
    public static Infrastructure From(IConfiguration configuration)
    {
        var rabbitMq = configuration.GetConnectionString("RabbitMq");
        return new(
            NullIfEmpty(configuration.GetConnectionString("Postgres")),
            string.IsNullOrWhiteSpace(rabbitMq) ? null : new Uri(rabbitMq),
            NullIfEmpty(configuration.GetConnectionString("Redis")));
    }

    /// <summary>
    /// Fails at start when a process would share some state with other processes but keep the rest to itself. A single
    /// role needs the services its role shares. Every role at once runs either fully embedded or fully on the shared
    /// services: a process on a shared broker with a private SQLite file or quota ledger would take other replicas'
    /// events for requests it cannot see, and count quota per replica.
    /// </summary>
    public void EnsureSufficientFor(ServerRoles roles)
    {
        var missing = new List<string>();
        if (RabbitMq is null)
            missing.Add("ConnectionStrings:RabbitMq");
        if (Postgres is null && roles.UsesDatabase())
            missing.Add("ConnectionStrings:Postgres");
        if (Redis is null && roles.HasFlag(ServerRoles.Orchestrator))
            missing.Add("ConnectionStrings:Redis");

        if (missing.Count == 0)
            return;

        if (roles != ServerRoles.All)
            throw new InvalidOperationException(
                $"Role '{roles}' shares state with other processes and needs {string.Join(", ", missing)}. " +
                "Only '--role all' runs on the embedded defaults.");

        // All three missing is the embedded mode.
        if (missing.Count < 3)
            throw new InvalidOperationException(
                $"'--role all' is given {string.Join(", ", Configured())} but not {string.Join(", ", missing)}. " +
                "A process that shares the broker, the database or Redis with other processes must share all three: " +
                "set the missing ones, or none of the three for the embedded mode.");
    }

    private IEnumerable<string> Configured()
    {
        if (RabbitMq is not null)
            yield return "ConnectionStrings:RabbitMq";
        if (Postgres is not null)
            yield return "ConnectionStrings:Postgres";
        if (Redis is not null)
            yield return "ConnectionStrings:Redis";
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
