using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging;

namespace Inference.Server.Tests.Infrastructure;

/// <summary>
/// The real server (<c>Program</c>) in-process, configured only through settings, exactly as an operator would.
/// Without connection strings it runs every role on the embedded defaults, with its SQLite file in a fresh directory.
/// </summary>
public sealed class InferenceAppFactory : WebApplicationFactory<Program>
{
    public const string ApiKey = "test-dev-key";

    private readonly string _directory = Directory.CreateTempSubdirectory("inference-tests-").FullName;
    private readonly Dictionary<string, string?> _settings;

    private readonly CapturedLogs? _logs;

    /// <param name="settings">Configuration on top of the test defaults, as an operator would set it.</param>
    /// <param name="logs">Where to keep a copy of the server's log, for specs that read it.</param>
    public InferenceAppFactory(IReadOnlyDictionary<string, string?>? settings = null, CapturedLogs? logs = null)
    {
        _logs = logs;
        _settings = new Dictionary<string, string?>
        {
            ["Dev:ApiKey"] = ApiKey,
            ["Database:SqlitePath"] = Path.Combine(_directory, "inference.db"),
            ["Api:QuotaDecisionTimeout"] = "00:00:10",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            _settings[key] = value;
    }

    /// <summary>A client that authenticates as the seeded <c>dev</c> tenant.</summary>
    public HttpClient CreateDevClient()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", ApiKey);
        return client;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        if (_logs is not null)
            builder.ConfigureLogging(logging => logging.AddProvider(_logs));
        foreach (var (key, value) in _settings)
            builder.UseSetting(key, value);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open is left to the OS's temp cleaner; it holds nothing another test reads.
        }
    }
}
