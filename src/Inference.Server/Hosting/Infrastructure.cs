namespace Inference.Server.Hosting;

/// <summary>
/// Which real services this process is configured with. Each one missing falls back to its embedded stand-in, which
/// only makes sense when every role runs in this one process.
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

    /// <summary>Fails at start when a process that is one role of many lacks a shared service.</summary>
    public void EnsureSufficientFor(ServerRoles roles)
    {
        if (roles == ServerRoles.All)
            return;

        var missing = new List<string>();
        if (RabbitMq is null)
            missing.Add("ConnectionStrings:RabbitMq");
        if (Postgres is null && roles.UsesDatabase())
            missing.Add("ConnectionStrings:Postgres");
        if (Redis is null && roles.HasFlag(ServerRoles.Orchestrator))
            missing.Add("ConnectionStrings:Redis");

        if (missing.Count > 0)
            throw new InvalidOperationException(
                $"Role '{roles}' shares state with other processes and needs {string.Join(", ", missing)}. " +
                "Only '--role all' runs on the embedded defaults.");
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
