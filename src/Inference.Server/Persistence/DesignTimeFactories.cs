using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Inference.Server.Persistence;

/// <summary>Lets <c>dotnet ef migrations add</c> build the PostgreSQL context without starting the host; the connection
/// string is never opened.</summary>
internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresInferenceDbContext>
{
    public PostgresInferenceDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresInferenceDbContext>().UseNpgsql("Host=design-time").Options);
}

/// <summary>Lets <c>dotnet ef migrations add</c> build the SQLite context without starting the host.</summary>
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteInferenceDbContext>
{
    public SqliteInferenceDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteInferenceDbContext>().UseSqlite("Data Source=design-time.db").Options);
}
