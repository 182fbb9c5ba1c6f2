using System.Data.Common;
using Inference.Orchestration;
using Inference.Server.Api;
using Inference.Server.Persistence;
using Inference.Server.Tests.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Listing;

public sealed class When_the_Listing_query_runs_on_SQLite(SqliteSagaDatabase database)
    : When_the_Listing_query_runs<SqliteSagaDatabase>(database)
{
    protected override string Explain => "EXPLAIN QUERY PLAN ";

    /// <summary>SQLite's plan: one row per step, its text in the last column.</summary>
    protected override async Task<string> PlanAsync(DbCommand command)
    {
        List<string> steps = [];
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            steps.Add(reader.GetString(reader.FieldCount - 1));
        var plan = string.Join('\n', steps);

        // Read from the index in the listing's order: a search within the tenant, and no sort of its own.
        Assert.Contains("USING INDEX ix_inference_sagas_tenant_created (tenant_id=?", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("TEMP B-TREE", plan, StringComparison.Ordinal);
        return plan;
    }
}

public sealed class When_the_Listing_query_runs_on_PostgreSQL(PostgresSagaDatabase database)
    : When_the_Listing_query_runs<PostgresSagaDatabase>(database)
{
    protected override string Explain => "EXPLAIN ";

    protected override async Task<string> PlanAsync(DbCommand command)
    {
        // A nearly empty table is cheapest to read whole; with that way closed, the plan shows whether the index can serve
        // the query at all, and in its order.
        await using (var off = command.Connection!.CreateCommand())
        {
            off.Transaction = command.Transaction;
            off.CommandText = "SET LOCAL enable_seqscan = off";
            await off.ExecuteNonQueryAsync();
        }

        List<string> lines = [];
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            lines.Add(reader.GetString(0));
        var plan = string.Join('\n', lines);

        Assert.True(plan.Contains("Index Scan Backward using ix_inference_sagas_tenant_created", StringComparison.Ordinal)
            && plan.Split('\n').Any(line => line.Contains("Index Cond: ", StringComparison.Ordinal)
                && line.Contains("(tenant_id)::text = ", StringComparison.Ordinal))
            && !plan.Contains("Sort", StringComparison.Ordinal), plan);
        return plan;
    }
}

/// <summary>
/// The query <c>GET /v1/inferences</c> sends, as EF Core writes it for each database, is served by the index on
/// (tenant_id, created_at, correlation_id) from migration RequestLifecycle: a range within the tenant, read in the
/// listing's order, with no sort, whatever the filters and whether or not a cursor is given.
/// </summary>
public abstract class When_the_Listing_query_runs<TDatabase>(TDatabase database) : IClassFixture<TDatabase>
    where TDatabase : SagaDatabase
{
    public static TheoryData<string?, string?, bool> Queries => new()
    {
        { null, null, false },
        { null, null, true },
        { InferenceStates.Completed, null, true },
        { null, "all-minilm-l6-v2", true },
        { InferenceStates.Inferring, "all-minilm-l6-v2", false },
    };

    protected abstract string Explain { get; }

    /// <summary>Runs <paramref name="command"/> (the EXPLAIN), asserts that its plan uses the index, and returns the plan.</summary>
    protected abstract Task<string> PlanAsync(DbCommand command);

    [Theory]
    [MemberData(nameof(Queries))]
    public async Task Should_be_served_by_the_tenant_created_index(string? state, string? model, bool withCursor)
    {
        var services = new ServiceCollection();
        database.AddTo(services);
        await using var provider = services.BuildServiceProvider();
        await using var scope = provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        InferenceCursor? cursor = withCursor ? new InferenceCursor(DateTimeOffset.UtcNow, Guid.NewGuid()) : null;
        var query = InferenceListing.Page(db, "tenant-a", state, model, cursor).Take(21);

        await using var transaction = await db.Database.BeginTransactionAsync();
        await using var command = query.CreateDbCommand();
        command.Transaction = transaction.GetDbTransaction();
        command.CommandText = Explain + command.CommandText;

        var plan = await PlanAsync(command);

        // What was explained is what EF sends: its text with the parameters' values written in as comments.
        Assert.EndsWith(command.CommandText[Explain.Length..].Trim(), query.ToQueryString().Trim(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(plan));
    }
}
