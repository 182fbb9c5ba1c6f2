using System.Net;
using System.Text.Json;
using Inference.Server.Hosting;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Tests.Integration;
using Microsoft.Extensions.Configuration;

namespace Inference.Server.Tests.Admin;

/// <summary>
/// <c>admin ...</c> on the command line: an operator with the database and no HTTP creates a tenant and a key, the key
/// authenticates on a server sharing that database, and a revocation reaches that server within its key cache.
/// </summary>
public abstract class AdminCommandSpecs
{
    /// <summary>The database both the command and the app use, and what else the app needs.</summary>
    protected abstract Dictionary<string, string?> Settings { get; }

    protected async Task Should_create_a_tenant_and_a_key_that_authenticates_on_the_server_until_revoked()
    {
        var tenant = AdminSettings.NewTenantId("cli");

        var created = await RunOkAsync("tenants", "create", "--id", tenant, "--name", "Acme CLI", "--tokens-per-day", "100000",
            "--max-concurrent=3");
        var issued = await RunOkAsync("keys", "create", tenant, "--name", "ci", "--expires-at", DateTimeOffset.UtcNow.AddDays(1).ToString("O"));

        Assert.Equal((tenant, "Acme CLI"), (created.GetProperty("id").GetString(), created.GetProperty("name").GetString()));
        Assert.Equal(100_000, created.GetProperty("plan").GetProperty("tokens_per_day").GetInt64());
        Assert.Equal(3, created.GetProperty("plan").GetProperty("max_concurrent").GetInt64());
        Assert.Equal(JsonValueKind.Null, created.GetProperty("plan").GetProperty("tokens_per_minute").ValueKind);
        var key = issued.GetProperty("key").GetString()!;

        var settings = new Dictionary<string, string?>(Settings) { ["Api:KeyCacheDuration"] = "00:00:01" };
        await using var app = new InferenceAppFactory(settings);
        using var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        using (var probe = await client.ProbeAsync())
            Assert.Equal(HttpStatusCode.OK, probe.StatusCode);

        var listed = await RunOkAsync("keys", "list", tenant);
        Assert.Equal(key[..7], listed.GetProperty("data")[0].GetProperty("prefix").GetString());
        var revoked = await RunOkAsync("keys", "revoke", tenant, issued.GetProperty("key_id").GetString()!);
        Assert.NotEqual(JsonValueKind.Null, revoked.GetProperty("revoked_at").ValueKind);

        await Poll.UntilAsync(async () =>
        {
            using var response = await client.ProbeAsync();
            return response.StatusCode;
        }, status => status == HttpStatusCode.Unauthorized, "the key revoked on the command line to be refused");
    }

    protected async Task Should_read_change_disable_and_list_tenants()
    {
        var tenant = AdminSettings.NewTenantId("cli");
        await RunOkAsync("tenants", "create", "--id", tenant);

        var replanned = await RunOkAsync("tenants", "set-plan", tenant, "--tokens-per-minute", "1000", "--requests-per-minute", "60");
        var disabled = await RunOkAsync("tenants", "disable", tenant);
        var read = await RunOkAsync("tenants", "get", tenant);
        var enabled = await RunOkAsync("tenants", "enable", tenant);
        var page = await RunOkAsync("tenants", "list", "--limit", "200");

        Assert.Equal(1000, replanned.GetProperty("plan").GetProperty("tokens_per_minute").GetInt64());
        Assert.Equal(60, replanned.GetProperty("plan").GetProperty("requests_per_minute").GetInt64());
        Assert.True(disabled.GetProperty("disabled").GetBoolean());
        Assert.True(read.GetProperty("disabled").GetBoolean());
        Assert.False(enabled.GetProperty("disabled").GetBoolean());
        Assert.Contains(page.GetProperty("data").EnumerateArray(), t => t.GetProperty("id").GetString() == tenant);
    }

    protected async Task Should_exit_1_with_the_apis_code_when_refused_and_2_for_a_usage_error()
    {
        var tenant = AdminSettings.NewTenantId("cli");
        await RunOkAsync("tenants", "create", "--id", tenant);

        Assert.Equal((1, "tenant_not_found"), Code(await RunAsync("tenants", "get", "no-such-tenant")));
        Assert.Equal((1, "tenant_exists"), Code(await RunAsync("tenants", "create", "--id", tenant)));
        Assert.Equal((1, "tenant_id_invalid"), Code(await RunAsync("tenants", "create", "--id", "Not Valid")));
        Assert.Equal((1, "plan_invalid"), Code(await RunAsync("tenants", "set-plan", tenant, "--tokens-per-day", "0")));
        Assert.Equal((1, "expires_at_invalid"), Code(await RunAsync("keys", "create", tenant, "--expires-at", "2020-01-01T00:00:00Z")));
        Assert.Equal((1, "key_not_found"), Code(await RunAsync("keys", "revoke", tenant, Guid.NewGuid().ToString())));
        Assert.Equal((1, "limit_invalid"), Code(await RunAsync("tenants", "list", "--limit", "0")));

        Assert.Equal(2, (await RunAsync("tenants", "frobnicate")).ExitCode);
        Assert.Equal(2, (await RunAsync("tenants", "create", "--id", "x", "--tokens-per-day", "lots")).ExitCode);
        Assert.Equal(2, (await RunAsync("tenants", "create", "--id", "x", "--colour", "red")).ExitCode);
        Assert.Equal(2, (await RunAsync("tenants", "get")).ExitCode);
        Assert.Equal(2, (await RunAsync("keys", "create", tenant, "--expires-at", "soon")).ExitCode);
        Assert.Equal(2, (await RunAsync()).ExitCode);
        var help = await RunAsync("help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("admin tenants create", help.Output, StringComparison.Ordinal);
    }

    private static (int, string) Code((int ExitCode, string Output, string Error) run) =>
        (run.ExitCode, run.Error.StartsWith("error: ", StringComparison.Ordinal) ? run.Error["error: ".Length..].Split(':')[0] : run.Error);

    private async Task<JsonElement> RunOkAsync(params string[] args)
    {
        var (exitCode, output, error) = await RunAsync(args);
        Assert.True(exitCode == 0, $"admin {string.Join(' ', args)} exited {exitCode}: {error}");
        Assert.Equal(string.Empty, error);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    private async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings).Build();
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exitCode = await AdminCommand.RunAsync(args, configuration, output, error);
        return (exitCode, output.ToString(), error.ToString());
    }
}

/// <summary>The command on the embedded SQLite file, before any server has created it.</summary>
public sealed class When_an_operator_runs_the_admin_command_on_sqlite : AdminCommandSpecs, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("inference-admin-cli-").FullName;

    protected override Dictionary<string, string?> Settings => new()
    {
        ["Database:SqlitePath"] = Path.Combine(_directory, "inference.db"),
    };

    [Fact]
    public Task Should_create_a_tenant_and_a_key_that_authenticates_until_revoked() =>
        Should_create_a_tenant_and_a_key_that_authenticates_on_the_server_until_revoked();

    [Fact]
    public Task Should_manage_tenants() => Should_read_change_disable_and_list_tenants();

    [Fact]
    public Task Should_report_refusals_and_usage_errors() => Should_exit_1_with_the_apis_code_when_refused_and_2_for_a_usage_error();

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open is left to the OS's temp cleaner.
        }
    }
}

/// <summary>The command on PostgreSQL, with the server on the real services sharing the database.</summary>
public sealed class When_an_operator_runs_the_admin_command_on_postgres : AdminCommandSpecs, IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    protected override Dictionary<string, string?> Settings => _services.Settings();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public Task Should_create_a_tenant_and_a_key_that_authenticates_until_revoked() =>
        Should_create_a_tenant_and_a_key_that_authenticates_on_the_server_until_revoked();

    [Fact]
    public Task Should_manage_tenants() => Should_read_change_disable_and_list_tenants();

    [Fact]
    public Task Should_report_refusals_and_usage_errors() => Should_exit_1_with_the_apis_code_when_refused_and_2_for_a_usage_error();
}
