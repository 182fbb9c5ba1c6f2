using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Tenants;
using Inference.Server.Tests.Infrastructure;
using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Tests.Api;

/// <summary>
/// The embedded mode keeps its requests in a SQLite file but its messages in memory: a process that stops mid-request
/// takes the request's messages with it. The next process over the same file must still finish those requests.
/// </summary>
public sealed class When_the_embedded_server_restarts_with_unfinished_requests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("inference-recovery-").FullName;

    private string SqlitePath => Path.Combine(_directory, "inference.db");

    private Dictionary<string, string?> Settings => new()
    {
        ["Database:SqlitePath"] = SqlitePath,
        ["Orchestration:DeadlineSweepInterval"] = "00:00:00.100",
    };

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Should_resume_and_complete_the_requests_the_previous_process_left_and_fail_those_past_their_deadline()
    {
        // A first process creates the database; what it leaves when killed mid-request are saga rows whose messages
        // are gone. They are written while no process runs, so that only the next one can act on them.
        await using (var previous = new InferenceAppFactory(Settings))
            _ = previous.Services;
        Guid reserved, inferring, overdue;
        var file = new DbContextOptionsBuilder<SqliteInferenceDbContext>().UseSqlite($"Data Source={SqlitePath}").Options;
        await using (var db = new SqliteInferenceDbContext(file))
        {
            var now = DateTimeOffset.UtcNow;
            reserved = Orphan(db, "QuotaReserved", ["A man is playing a guitar."], now.AddSeconds(-2), now.AddMinutes(10));
            inferring = Orphan(db, "Inferring", ["hello world", "Someone plays the guitar."], now.AddSeconds(-1), now.AddMinutes(10));
            overdue = Orphan(db, "QuotaReserved", ["too late"], now.AddMinutes(-11), now.AddMinutes(-1));
            await db.SaveChangesAsync();
        }

        await using var next = new InferenceAppFactory(Settings);
        using var client = next.CreateDevClient();

        var completed = await client.WaitUntilFinishedAsync(reserved.ToString());
        Assert.Equal("completed", completed.GetProperty("status").GetString());
        Assert.Single(completed.Embeddings());
        Assert.Equal(["submitted", "quota_reserved", "inferring", "completed"],
            completed.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("status").GetString()));
        var alsoCompleted = await client.WaitUntilFinishedAsync(inferring.ToString());
        Assert.Equal(("completed", 2), (alsoCompleted.GetProperty("status").GetString(), alsoCompleted.Embeddings().Length));
        var failed = await client.WaitUntilFinishedAsync(overdue.ToString());
        Assert.Equal(("failed", "deadline_exceeded"),
            (failed.GetProperty("status").GetString(), failed.GetProperty("error").GetProperty("code").GetString()));
    }

    private static Guid Orphan(InferenceDbContext db, string state, List<string> inputs, DateTimeOffset createdAt, DateTimeOffset deadline)
    {
        var id = NewId.NextGuid();
        string[] path = state == "Inferring" ? ["Submitted", "QuotaReserved", "Inferring"] : ["Submitted", "QuotaReserved"];
        db.Inferences.Add(new InferenceState
        {
            CorrelationId = id,
            CurrentState = state,
            TenantId = DevTenantSeeder.TenantId,
            Model = InferencesClient.Model,
            Inputs = inputs,
            InputCount = inputs.Count,
            PromptTokens = 10 * inputs.Count,
            ReservedTokens = 10 * inputs.Count,
            CreatedAt = createdAt,
            UpdatedAt = createdAt,
            DeadlineAt = deadline,
            History = [.. path.Select(name => new StatusChange(name, createdAt))],
        });
        return id;
    }
}
