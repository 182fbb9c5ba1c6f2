using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Inference.Benchmarks.Pipeline;

/// <summary>
/// The published server running as three processes, one per role, on the sandbox's services: as deployed, so that
/// each role's CPU time is its own.
/// </summary>
internal sealed class RoleProcesses : IAsyncDisposable
{
    public static readonly string[] Roles = ["orchestrator", "worker", "api"];

    private readonly Dictionary<string, (Process Process, Uri Url)> _running = new(StringComparer.Ordinal);
    private readonly string _logDirectory;

    private readonly IReadOnlyDictionary<string, string> _environment;

    private RoleProcesses(string logDirectory, IReadOnlyDictionary<string, string>? environment)
    {
        _logDirectory = logDirectory;
        _environment = environment ?? new Dictionary<string, string>();
    }

    public Uri ApiUrl => _running["api"].Url;

    public int Pid(string role) => _running[role].Process.Id;

    /// <summary>Starts the roles (the orchestrator first: it migrates the database) and waits until each is ready.</summary>
    /// <param name="server">The published <c>Inference.Server</c> executable.</param>
    /// <param name="sandbox">The services' names and the API key the roles are given.</param>
    /// <param name="logDirectory">Where each role's output goes, as ROLE.log, replaced on every run.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <param name="only">The roles to start; all three when null.</param>
    /// <param name="environment">Settings beyond the sandbox's, as environment variables.</param>
    public static async Task<RoleProcesses> StartAsync(string server, Sandbox sandbox, string logDirectory, CancellationToken cancellationToken,
        IReadOnlyList<string>? only = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        Directory.CreateDirectory(logDirectory);
        var roles = new RoleProcesses(logDirectory, environment);
        try
        {
            foreach (var role in only ?? Roles)
                roles.Start(server, role, sandbox);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            foreach (var role in only ?? Roles)
                await roles.WaitUntilReadyAsync(http, role, cancellationToken).ConfigureAwait(false);
            return roles;
        }
        catch
        {
            await roles.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The last lines a role wrote, for a report of what went wrong.</summary>
    public string LogTail(string role, int lines = 20)
    {
        var path = LogPath(role);
        return File.Exists(path) ? string.Join(Environment.NewLine, File.ReadLines(path).TakeLast(lines)) : "(no log)";
    }

    /// <summary>Kills the roles outright: nothing they hold is worth a graceful stop, and the sandbox goes next.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var (process, _) in _running.Values)
        {
            try
            {
                process.Kill();
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                // It had already exited.
            }
            catch (TimeoutException)
            {
                await Console.Error.WriteLineAsync($"warning: role process {process.Id} did not exit after SIGKILL").ConfigureAwait(false);
            }

            process.Dispose();
        }

        _running.Clear();
    }

    private string LogPath(string role) => Path.Combine(_logDirectory, role + ".log");

    private void Start(string server, string role, Sandbox sandbox)
    {
        var url = new Uri($"http://127.0.0.1:{FreePort()}");
        var log = LogPath(role);
        File.Delete(log);
        // Through sh's exec, so that the pid is the server's own and its output goes straight to the file: piping it
        // through this process would add our CPU time to every line it writes.
        // From the server's own directory, as a container runs it: ASP.NET Core takes the working directory as its content
        // root, and from anywhere else the server would miss its appsettings.json and log every database command.
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = Path.GetDirectoryName(server)! };
        foreach (var argument in new[] { "-c", "exec \"$0\" \"$@\" >>\"$ROLE_LOG\" 2>&1", server, "--role", role, "--urls", url.ToString() })
            start.ArgumentList.Add(argument);
        start.Environment["ROLE_LOG"] = log;
        start.Environment["ConnectionStrings__Postgres"] = sandbox.PostgresConnectionString;
        start.Environment["ConnectionStrings__RabbitMq"] = sandbox.RabbitMq.ToString();
        start.Environment["ConnectionStrings__Redis"] = sandbox.RedisConfiguration;
        start.Environment["Quotas__KeyPrefix"] = sandbox.Name;
        start.Environment["Dev__ApiKey"] = sandbox.ApiKey;
        start.Environment["Database__ApplyMigrations"] = "true";
        foreach (var (name, value) in _environment)
            start.Environment[name] = value;
        // Everything else (logging, engine threads, timeouts) stays at the product's defaults: that is what is measured.
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        start.Environment.Remove("DOTNET_ENVIRONMENT");
        _running[role] = (Process.Start(start) ?? throw new InvalidOperationException($"Could not start the {role} role."), url);
    }

    private async Task WaitUntilReadyAsync(HttpClient http, string role, CancellationToken cancellationToken)
    {
        var (process, url) = _running[role];
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"The {role} role exited with code {process.ExitCode} while starting:{Environment.NewLine}{LogTail(role)}");
            try
            {
                using var response = await http.GetAsync(new Uri(url, "/health/ready"), cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The probe's own timeout.
            }

            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
                throw new TimeoutException($"The {role} role was not ready within 2 minutes:{Environment.NewLine}{LogTail(role)}");
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    private static int FreePort()
    {
        // Ports fixed in advance would collide with a crash check or a second run on the same machine.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
