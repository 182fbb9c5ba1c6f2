namespace Inference.Server.Persistence;

/// <summary>Section <c>Database</c>.</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary>Apply EF Core migrations at start. Always done in the embedded (SQLite) mode.</summary>
    public bool ApplyMigrations { get; set; }

    /// <summary>The SQLite file of the embedded mode, used when <c>ConnectionStrings:Postgres</c> is not set.</summary>
    public string SqlitePath { get; set; } =
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "inference-platform", "inference.db");
}
