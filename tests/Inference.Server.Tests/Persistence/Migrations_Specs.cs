using Inference.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Tests.Persistence;

public sealed class The_migrations
{
    [Fact]
    public void Should_match_the_model_on_postgresql()
    {
        using var db = new PostgresInferenceDbContext(
            new DbContextOptionsBuilder<PostgresInferenceDbContext>().UseNpgsql("Host=unused").Options);

        Assert.False(db.Database.HasPendingModelChanges(), "Run: dotnet ef migrations add <Name> --context PostgresInferenceDbContext");
    }

    [Fact]
    public void Should_match_the_model_on_sqlite()
    {
        using var db = new SqliteInferenceDbContext(
            new DbContextOptionsBuilder<SqliteInferenceDbContext>().UseSqlite("Data Source=:memory:").Options);

        Assert.False(db.Database.HasPendingModelChanges(), "Run: dotnet ef migrations add <Name> --context SqliteInferenceDbContext");
    }
}
