namespace Inference.Server.Persistence;

/// <summary>Section <c>Database</c>.</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary>Apply EF Core migrations at start. Always done in the embedded (SQLite) mode.</summary>
    public bool ApplyMigrations { get; set; }

    /// <summary>
    /// How long a starting process waits for the database to answer (it is restarting, failing over, or not up yet)
    /// before it gives up and exits. Outages are retried with growing pauses up to 10 s.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The SQLite file of the embedded mode, used when <c>ConnectionStrings:Postgres</c> is not set.</summary>
    public string SqlitePath { get; set; } =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "inference-platform", "inference.db");
}
