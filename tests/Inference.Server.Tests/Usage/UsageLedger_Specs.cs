using Inference.Orchestration;
using Inference.Server.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Persistence.Sagas;
using Inference.Server.Quota;
using Inference.Server.Tests.Persistence;
using Inference.Server.Usage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;

namespace Inference.Server.Tests.Usage;

public sealed class When_the_usage_ledger_is_kept_in_PostgreSQL(PostgresSagaDatabase database)
    : UsageLedger_Specs<PostgresSagaDatabase>(database);

public sealed class When_the_usage_ledger_is_kept_in_SQLite(SqliteSagaDatabase database)
    : UsageLedger_Specs<SqliteSagaDatabase>(database);

/// <summary>
/// The usage ledger on each database: the record a transition into Completed adds, saved and rolled back as the saga
/// repository saves a transition (the observers see the row inside the message's transaction, then one save writes
/// both); the quota snapshot read from it; and retention, which keeps it.
/// </summary>
public abstract class UsageLedger_Specs<TDatabase>(TDatabase database) : IClassFixture<TDatabase>, IAsyncLifetime
    where TDatabase : SagaDatabase
{
    private static readonly DateTimeOffset Submitted = new(2026, 2, 10, 8, 30, 0, TimeSpan.Zero);

    private ServiceProvider _provider = null!;

    public async Task InitializeAsync()
    {
        var services = new ServiceCollection();
        database.AddTo(services);
        services.AddUsage();
        _provider = services.BuildServiceProvider(validateScopes: true);

        // One database serves the class: each spec starts from empty tables.
        await using var scope = _provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        await db.UsageRecords.ExecuteDeleteAsync();
        await db.Inferences.ExecuteDeleteAsync();
    }

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    [Fact]
    public async Task Should_record_a_transition_into_Completed_once_with_the_requests_tokens_and_times()
    {
        var id = await StoreAsync(InferenceStates.Inferring, prompt: 37, completion: 5);
        var completedAt = Submitted.AddSeconds(3);

        await TransitionAsync(id, InferenceStates.Completed, completedAt, commit: true);

        var record = Assert.Single(await RecordsAsync());
        Assert.Equal((id, "tenant-a", "model-x"), (record.InferenceId, record.TenantId, record.Model));
        Assert.Equal((37L, 5L, 42L), (record.PromptTokens, record.CompletionTokens, record.TotalTokens));
        Assert.Equal((Submitted, completedAt), (record.SubmittedAt, record.CompletedAt));

        // The row saved again as Completed (a redelivered message, a later save of the same message) adds nothing.
        await TransitionAsync(id, InferenceStates.Completed, completedAt.AddSeconds(1), commit: true);
        Assert.Single(await RecordsAsync());
    }

    [Fact]
    public async Task Should_take_the_record_back_with_a_rolled_back_transition()
    {
        var id = await StoreAsync(InferenceStates.Inferring, prompt: 12, completion: 0);

        await TransitionAsync(id, InferenceStates.Completed, Submitted.AddSeconds(1), commit: false);

        Assert.Empty(await RecordsAsync());
        Assert.Equal(InferenceStates.Inferring, (await LoadAsync(id)).CurrentState);

        // The redelivery that follows a rollback completes it, and only then is it billed.
        await TransitionAsync(id, InferenceStates.Completed, Submitted.AddSeconds(2), commit: true);
        Assert.Equal(12, Assert.Single(await RecordsAsync()).TotalTokens);
    }

    [Fact]
    public async Task Should_record_a_request_stored_already_completed()
    {
        var id = await StoreAsync(InferenceStates.Completed, prompt: 9, completion: 1);

        var record = Assert.Single(await RecordsAsync());
        Assert.Equal((id, 10L), (record.InferenceId, record.TotalTokens));
    }

    [Theory]
    [InlineData(InferenceStates.Failed)]
    [InlineData(InferenceStates.Canceled)]
    [InlineData(InferenceStates.QuotaReserved)]
    public async Task Should_record_nothing_for_a_request_that_does_not_complete(string state)
    {
        var id = await StoreAsync(InferenceStates.Inferring, prompt: 20, completion: 0);

        await TransitionAsync(id, state, Submitted.AddSeconds(1), commit: true);

        Assert.Empty(await RecordsAsync());
    }

    [Fact]
    public async Task Should_record_nothing_for_a_completed_request_without_tokens()
    {
        var id = await StoreAsync(InferenceStates.Inferring, prompt: 0, completion: 0);

        await TransitionAsync(id, InferenceStates.Completed, Submitted.AddSeconds(1), commit: true);

        Assert.Empty(await RecordsAsync());
    }

    [Fact]
    public async Task Should_read_the_months_settled_tokens_per_tenant_and_submission_day_and_every_open_reservation()
    {
        var now = new DateTimeOffset(2026, 2, 15, 12, 0, 0, TimeSpan.Zero);
        await using (var scope = _provider.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            db.UsageRecords.AddRange(
                Record("tenant-a", new(2026, 1, 31, 23, 59, 59, TimeSpan.Zero), 1000), // the month before
                Record("tenant-a", new(2026, 2, 1, 0, 0, 0, TimeSpan.Zero), 10),
                // Submitted on the 1st, completed on the 2nd: counted on the 1st, where its reservation was.
                Record("tenant-a", new(2026, 2, 1, 23, 59, 59, TimeSpan.Zero), 20, completedAt: new(2026, 2, 2, 0, 0, 5, TimeSpan.Zero)),
                Record("tenant-a", new(2026, 2, 14, 9, 0, 0, TimeSpan.Zero), 7),
                Record("tenant-b", new(2026, 2, 14, 10, 0, 0, TimeSpan.Zero), 3),
                Record("tenant-b", new(2026, 2, 28, 23, 59, 59, TimeSpan.Zero), 4),
                Record("tenant-b", new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero), 2000), // the month after
                // Tenants are found by walking the index from one to the next: past one with nothing this month too.
                Record("tenant-ab", new(2026, 1, 20, 0, 0, 0, TimeSpan.Zero), 500),
                Record("tenant-c", new(2026, 2, 3, 4, 5, 6, TimeSpan.Zero), 8),
                Record("tenant-c", new(2026, 2, 3, 7, 0, 0, TimeSpan.Zero), 1));
            await db.SaveChangesAsync();
        }

        var open = new Dictionary<string, (Guid Id, long Tokens, DateTimeOffset At)>();
        var at = new DateTimeOffset(2026, 2, 15, 11, 0, 0, TimeSpan.Zero);
        foreach (var (state, tokens) in new[]
                 {
                     (InferenceStates.Submitted, 11L), (InferenceStates.QuotaReserved, 22L), (InferenceStates.Inferring, 33L),
                     (InferenceStates.Completed, 44L), (InferenceStates.Failed, 55L), (InferenceStates.Canceled, 66L),
                 })
        {
            at = at.AddMinutes(1);
            var id = await StoreAsync(state, prompt: 0, completion: 0, reserved: tokens, createdAt: at);
            open[state] = (id, tokens, at);
        }

        var source = _provider.GetRequiredService<IQuotaSnapshotSource>();
        var snapshot = await source.ReadAsync(now, CancellationToken.None);

        Assert.IsType<DbQuotaSnapshotSource>(source);
        Assert.Equal(
            [
                new SettledTokens("tenant-a", new(2026, 2, 1), 30),
                new SettledTokens("tenant-a", new(2026, 2, 14), 7),
                new SettledTokens("tenant-b", new(2026, 2, 14), 3),
                new SettledTokens("tenant-b", new(2026, 2, 28), 4),
                new SettledTokens("tenant-c", new(2026, 2, 3), 9),
            ],
            snapshot.Settled.OrderBy(x => x.TenantId, StringComparer.Ordinal).ThenBy(x => x.Day));
        // A submitted request's reservation is undecided: it is decided after the rebuild, not recreated as admitted.
        // Each comes with its deadline, when its recreated concurrency slot frees itself.
        Assert.Equal(
            new[] { InferenceStates.QuotaReserved, InferenceStates.Inferring }
                .Select(state => new OpenReservation(
                    "tenant-a", open[state].Id, open[state].Tokens, open[state].At, open[state].At.AddMinutes(5))),
            snapshot.Open.OrderBy(x => x.ReservedAt));
    }

    [Fact]
    public async Task Should_read_an_empty_snapshot_from_an_empty_ledger()
    {
        var snapshot = await _provider.GetRequiredService<IQuotaSnapshotSource>().ReadAsync(DateTimeOffset.UtcNow, CancellationToken.None);

        Assert.Empty(snapshot.Settled);
        Assert.Empty(snapshot.Open);
    }

    [Fact]
    public async Task Should_keep_the_usage_records_when_retention_deletes_their_requests()
    {
        var id = await StoreAsync(InferenceStates.Inferring, prompt: 5, completion: 0);
        await TransitionAsync(id, InferenceStates.Completed, Submitted.AddSeconds(1), commit: true);
        var options = new RetentionOptions();
        using var job = new RetentionJob(_provider.GetRequiredService<IServiceScopeFactory>(),
            Microsoft.Extensions.Options.Options.Create(options), new Quota.ManualTimeProvider(Submitted + options.FinalAfter + TimeSpan.FromDays(1)),
            new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance), NullLogger<RetentionJob>.Instance);

        Assert.Equal(1, await job.RunOnceAsync(CancellationToken.None));

        await using var scope = _provider.CreateAsyncScope();
        Assert.False(await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences.AnyAsync());
        Assert.Equal(id, Assert.Single(await RecordsAsync()).InferenceId);
    }

    private static UsageRecord Record(string tenantId, DateTimeOffset submittedAt, long tokens, DateTimeOffset? completedAt = null) => new()
    {
        InferenceId = Guid.NewGuid(),
        TenantId = tenantId,
        Model = "model-x",
        PromptTokens = tokens,
        CompletionTokens = 0,
        TotalTokens = tokens,
        SubmittedAt = submittedAt,
        CompletedAt = completedAt ?? submittedAt.AddSeconds(1),
    };

    /// <summary>Stores a request as the saga's first save does: an added row, shown to the observers first.</summary>
    private async Task<Guid> StoreAsync(string state, int prompt, int completion, long reserved = 0, DateTimeOffset? createdAt = null)
    {
        var saga = new InferenceState
        {
            CorrelationId = Guid.NewGuid(),
            CurrentState = state,
            TenantId = "tenant-a",
            Model = "model-x",
            InputCount = 1,
            PromptTokens = prompt,
            CompletionTokens = completion,
            ReservedTokens = reserved,
            CreatedAt = createdAt ?? Submitted,
            UpdatedAt = createdAt ?? Submitted,
            DeadlineAt = (createdAt ?? Submitted).AddMinutes(5),
        };
        await using var scope = _provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        await using var transaction = await db.Database.BeginTransactionAsync();
        await db.Inferences.AddAsync(saga);
        await ObserveAsync(scope, db, saga);
        await db.SaveChangesAsync();
        await transaction.CommitAsync();
        return saga.CorrelationId;
    }

    /// <summary>
    /// A transition as the saga repository saves it: the row loaded and changed in the message's transaction, shown to
    /// every registered observer, saved with what they added in one save, and the transaction committed or rolled back.
    /// </summary>
    private async Task TransitionAsync(Guid id, string state, DateTimeOffset at, bool commit)
    {
        await using var scope = _provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        await using var transaction = await db.Database.BeginTransactionAsync();
        var saga = await db.Inferences.SingleAsync(x => x.CorrelationId == id);
        saga.CurrentState = state;
        saga.UpdatedAt = at;
        db.ChangeTracker.DetectChanges();
        await ObserveAsync(scope, db, saga);
        await db.SaveChangesAsync();
        if (commit)
            await transaction.CommitAsync();
        else
            await transaction.RollbackAsync();
    }

    private static async Task ObserveAsync(AsyncServiceScope scope, InferenceDbContext db, InferenceState saga)
    {
        foreach (var observer in scope.ServiceProvider.GetServices<ISagaSaveObserver<InferenceState>>())
            await observer.SavingAsync(db, db.Entry(saga), CancellationToken.None);
    }

    private async Task<InferenceState> LoadAsync(Guid id)
    {
        await using var scope = _provider.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences.AsNoTracking().SingleAsync(x => x.CorrelationId == id);
    }

    private async Task<List<UsageRecord>> RecordsAsync()
    {
        await using var scope = _provider.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().UsageRecords.AsNoTracking().ToListAsync();
    }
}
