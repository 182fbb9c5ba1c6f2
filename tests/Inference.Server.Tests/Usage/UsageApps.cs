using Inference.Server.Tests.Api;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Tests.Integration;

namespace Inference.Server.Tests.Usage;

/// <summary>Settings of the usage specs' apps: an operator token, and the limits the slow request needs.</summary>
internal static class UsageSettings
{
    public const string AdminToken = "test-usage-admin-token";

    public static Dictionary<string, string?> With(IReadOnlyDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>(SlowRequest.Limits) { ["Admin:Token"] = AdminToken };
        foreach (var (key, value) in more ?? new Dictionary<string, string?>())
            settings[key] = value;
        return settings;
    }
}

/// <summary>The embedded app (SQLite, in-memory bus, in-process ledger) with <see cref="UsageSettings"/>.</summary>
public sealed class UsageApp() : EmbeddedApp(UsageSettings.With());

/// <summary>The same on PostgreSQL, RabbitMQ and Redis.</summary>
public sealed class PostgresUsageApp : EmbeddedApp
{
    private readonly IsolatedServices _services;

    public PostgresUsageApp()
        : this(new IsolatedServices())
    {
    }

    private PostgresUsageApp(IsolatedServices services)
        : base(UsageSettings.With(services.Settings())) => _services = services;

    public override async Task InitializeAsync()
    {
        await _services.InitializeAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _services.DisposeAsync();
    }
}
