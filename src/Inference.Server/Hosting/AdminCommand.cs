using System.Globalization;
using System.Text.Json;
using Inference.Server.Persistence;
using Inference.Server.Quota;
using Inference.Server.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Hosting;

/// <summary>
/// <c>Inference.Server admin &lt;group&gt; &lt;verb&gt; [options]</c>: the admin API's tenant and key operations for an
/// operator with database access and no HTTP (before the first start, or with <c>Admin:Token</c> unset). It reads the
/// server's configuration, opens its database (PostgreSQL or the embedded SQLite file, migrated as the server would),
/// runs one <see cref="TenantAdministration"/> operation and prints its answer as the admin API's JSON body. No web host,
/// no bus, no worker starts.
/// </summary>
/// <remarks>
/// The arguments are parsed by hand: eight verbs with a handful of <c>--name value</c> options need no framework, and
/// System.CommandLine's console and help conventions would differ from this JSON-in, JSON-out tool.
/// Exit codes: 0 done, 1 refused (the error line carries the admin API's code) or the database failed, 2 a usage error.
/// </remarks>
public static class AdminCommand
{
    public const int Succeeded = 0;
    public const int Refused = 1;
    public const int UsageError = 2;

    /// <summary>The admin API's JSON: snake_case, indented for people.</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    public const string Usage = """
        usage: admin <group> <verb> [options]

          admin tenants create --id ID [--name NAME] [PLAN OPTIONS]
          admin tenants list [--limit N] [--after ID]
          admin tenants get ID
          admin tenants set-plan ID [PLAN OPTIONS]      (replaces the whole plan: a limit left out is no limit)
          admin tenants disable ID
          admin tenants enable ID
          admin keys create TENANT [--name NAME] [--expires-at ISO-8601]   (prints the key, once)
          admin keys list TENANT
          admin keys revoke TENANT KEY_ID

        PLAN OPTIONS (whole numbers of at least 1; absent: no limit):
          --requests-per-minute N  --tokens-per-minute N  --tokens-per-day N
          --tokens-per-month N     --max-concurrent N     --max-inputs-per-request N

        Configuration is the server's (appsettings.json, environment variables such as ConnectionStrings__Postgres).
        Prints the admin API's JSON body; exit code 0 done, 1 refused, 2 usage error.
        """;

    private static readonly string[] PlanOptions =
        ["requests-per-minute", "tokens-per-minute", "tokens-per-day", "tokens-per-month", "max-concurrent", "max-inputs-per-request"];

    /// <summary>Runs one admin command.</summary>
    /// <param name="args">The arguments after <c>admin</c>, e.g. <c>tenants get acme</c>.</param>
    /// <param name="configuration">The configuration to use; null reads the server's own, as <c>Program</c> does.</param>
    /// <param name="output">Where the JSON answer goes.</param>
    /// <param name="error">Where error lines go; null for <paramref name="output"/>.</param>
    /// <param name="cancellationToken">Stops the operation (and the migration before it).</param>
    /// <returns>The process's exit code.</returns>
    public static async Task<int> RunAsync(string[] args, IConfiguration? configuration, TextWriter output, TextWriter? error = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        error ??= output;

        if (args is [] or ["help" or "--help" or "-h"])
        {
            await (args.Length == 0 ? error : output).WriteLineAsync(Usage).ConfigureAwait(false);
            return args.Length == 0 ? UsageError : Succeeded;
        }

        Command command;
        try
        {
            command = Parse(args);
        }
        catch (UsageException exception)
        {
            await error.WriteLineAsync($"error: {exception.Message}").ConfigureAwait(false);
            await error.WriteLineAsync("Run 'admin help' for the commands.").ConfigureAwait(false);
            return UsageError;
        }

        try
        {
            using var host = Build(configuration);
            await using var scope = host.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            var database = scope.ServiceProvider.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            if (database.ApplyMigrations || db.Database.IsSqlite())
            {
                var logger = scope.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AdminCommand));
                await PersistenceExtensions.MigrateAsync(db, logger, cancellationToken).ConfigureAwait(false);
            }

            var (body, refusal) = await command(scope.ServiceProvider.GetRequiredService<TenantAdministration>(), cancellationToken)
                .ConfigureAwait(false);
            if (refusal is not null)
            {
                await error.WriteLineAsync($"error: {refusal.Code}: {refusal.Detail}").ConfigureAwait(false);
                foreach (var field in refusal.Errors ?? [])
                    await error.WriteLineAsync($"  {field.Field}: {field.Code}: {field.Message}").ConfigureAwait(false);
                return Refused;
            }

            await output.WriteLineAsync(JsonSerializer.Serialize(body, body!.GetType(), Json)).ConfigureAwait(false);
            return Succeeded;
        }
        catch (Exception exception) when (exception is DbUpdateException or System.Data.Common.DbException or InvalidOperationException
                                              or TimeoutException or IOException)
        {
            await error.WriteLineAsync($"error: {exception.GetBaseException().Message}").ConfigureAwait(false);
            return Refused;
        }
    }

    /// <summary>Only what the operations need: the configuration, the database and the clock.</summary>
    private static IHost Build(IConfiguration? configuration)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            // Given a configuration (tests), that is all; otherwise the server's sources: appsettings, environment.
            DisableDefaults = configuration is not null,
            ApplicationName = typeof(AdminCommand).Assembly.GetName().Name,
        });
        if (configuration is not null)
            builder.Configuration.AddConfiguration(configuration);

        // The answer is on standard output; what the libraries have to say (warnings only) goes to standard error.
        builder.Logging.ClearProviders().SetMinimumLevel(LogLevel.Warning)
            .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);

        var infrastructure = Infrastructure.From(builder.Configuration);
        builder.Services.AddSingleton(infrastructure);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.AddInferenceDatabase(infrastructure);
        builder.Services.AddScoped<TenantAdministration>();
        return builder.Build();
    }

    private delegate Task<(object? Body, AdminError? Error)> Command(TenantAdministration tenants, CancellationToken cancellationToken);

    /// <summary>Reads the whole command line before anything opens the database, so a usage error costs nothing.</summary>
    private static Command Parse(string[] args)
    {
        var p = ParsedArguments.From(args.Skip(2));
        switch (args[0], args.Length > 1 ? args[1] : null)
        {
            case ("tenants", "create"):
            {
                p.Expect(0, ["id", "name", .. PlanOptions]);
                var (id, name, plan) = (p.Required("id"), p.Option("name"), p.Plan());
                return (tenants, ct) => Run(tenants.CreateTenantAsync(id, name, plan, ct));
            }

            case ("tenants", "list"):
            {
                p.Expect(0, ["limit", "after"]);
                var (limit, after) = (p.Number("limit"), p.Option("after"));
                int? count = limit is null ? null : (int)Math.Clamp(limit.Value, -1, int.MaxValue);
                return (tenants, ct) => Run(tenants.ListTenantsAsync(count, after, ct));
            }

            case ("tenants", "get"):
            {
                var id = p.Expect(1, []).Positional[0];
                return (tenants, ct) => Run(tenants.GetTenantAsync(id, ct));
            }

            case ("tenants", "set-plan"):
            {
                var id = p.Expect(1, PlanOptions).Positional[0];
                var plan = p.Plan();
                return (tenants, ct) => Run(tenants.SetPlanAsync(id, plan, ct));
            }

            case ("tenants", "disable" or "enable"):
            {
                var id = p.Expect(1, []).Positional[0];
                var disable = args[1] == "disable";
                return (tenants, ct) => Run(tenants.SetDisabledAsync(id, disable, ct));
            }

            case ("keys", "create"):
            {
                var tenantId = p.Expect(1, ["name", "expires-at"]).Positional[0];
                var (name, expiresAt) = (p.Option("name"), p.ExpiresAt());
                return (tenants, ct) => Run(tenants.CreateKeyAsync(tenantId, name, expiresAt, ct));
            }

            case ("keys", "list"):
            {
                var tenantId = p.Expect(1, []).Positional[0];
                return (tenants, ct) => Run(tenants.ListKeysAsync(tenantId, ct));
            }

            case ("keys", "revoke"):
            {
                p.Expect(2, []);
                var (tenantId, keyId) = (p.Positional[0], p.Positional[1]);
                return (tenants, ct) => Run(tenants.RevokeKeyAsync(tenantId, keyId, ct));
            }

            default:
                throw new UsageException($"unknown command '{string.Join(' ', args.Take(2))}'.");
        }
    }

    private static async Task<(object? Body, AdminError? Error)> Run<T>(Task<AdminResult<T>> operation)
        where T : class
    {
        var result = await operation.ConfigureAwait(false);
        return (result.Value, result.Error);
    }

    /// <summary>A command line that does not say what to do; exit code 2.</summary>
    private sealed class UsageException(string message) : Exception(message);

    /// <summary>Positional arguments and <c>--name value</c> (or <c>--name=value</c>) options.</summary>
    private sealed class ParsedArguments
    {
        private readonly Dictionary<string, string> _options = new(StringComparer.Ordinal);

        public List<string> Positional { get; } = [];

        public static ParsedArguments From(IEnumerable<string> args)
        {
            var parsed = new ParsedArguments();
            using var tokens = args.GetEnumerator();
            while (tokens.MoveNext())
            {
                var token = tokens.Current;
                if (!token.StartsWith("--", StringComparison.Ordinal))
                {
                    parsed.Positional.Add(token);
                    continue;
                }

                var (name, value) = token.IndexOf('=', StringComparison.Ordinal) is var equals and > 0
                    ? (token[2..equals], token[(equals + 1)..])
                    : (token[2..], tokens.MoveNext() ? tokens.Current : throw new UsageException($"'{token}' needs a value."));
                if (!parsed._options.TryAdd(name, value))
                    throw new UsageException($"'--{name}' is given twice.");
            }

            return parsed;
        }

        /// <summary>Checks the count of positional arguments and that every option is one the command knows.</summary>
        public ParsedArguments Expect(int positional, string[] options)
        {
            if (Positional.Count != positional)
                throw new UsageException(positional == 0
                    ? $"unexpected argument '{Positional[0]}'."
                    : string.Create(CultureInfo.InvariantCulture, $"expected {positional} argument(s), got {Positional.Count}."));
            foreach (var name in _options.Keys.Where(name => !options.Contains(name)))
                throw new UsageException($"unknown option '--{name}'.");
            return this;
        }

        public string? Option(string name) => _options.GetValueOrDefault(name);

        /// <summary>A required option; its absence is left to the operation when it has a code for it.</summary>
        public string? Required(string name) => Option(name) ?? throw new UsageException($"'--{name}' is required.");

        public long? Number(string name)
        {
            if (Option(name) is not { } text)
                return null;
            return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new UsageException($"'--{name}' must be a whole number, not '{text}'.");
        }

        public QuotaPlan Plan() => new()
        {
            RequestsPerMinute = Number("requests-per-minute"),
            TokensPerMinute = Number("tokens-per-minute"),
            TokensPerDay = Number("tokens-per-day"),
            TokensPerMonth = Number("tokens-per-month"),
            MaxConcurrent = Number("max-concurrent"),
            MaxInputsPerRequest = Number("max-inputs-per-request"),
        };

        public DateTimeOffset? ExpiresAt()
        {
            if (Option("expires-at") is not { } text)
                return null;
            return TenantAdministration.TryParseExpiresAt(text, out var expiresAt)
                ? expiresAt
                : throw new UsageException($"'--expires-at' must be an ISO 8601 date and time (e.g. 2030-01-31T00:00:00Z), not '{text}'.");
        }
    }
}
