using System.Diagnostics;
using System.Text.Json;
using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Tests.Orchestration;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Inference.Server.Tests.Persistence;

/// <summary>PostgreSQL: each message loads its saga row with <c>SELECT ... FOR UPDATE</c> under READ COMMITTED.</summary>
[Collection(SagaRepositoryCollection.Name)]
public sealed class When_sagas_are_stored_in_PostgreSQL(PostgresSagaDatabase database, ITestOutputHelper output)
    : SagaRepository_Specs<PostgresSagaDatabase>(database, output);

/// <summary>SQLite (the embedded mode): each message's transaction begins IMMEDIATE, holding the database's write lock.</summary>
[Collection(SagaRepositoryCollection.Name)]
public sealed class When_sagas_are_stored_in_SQLite(SqliteSagaDatabase database, ITestOutputHelper output)
    : SagaRepository_Specs<SqliteSagaDatabase>(database, output);

/// <summary>The two databases take turns, so that neither's throughput figures are measured under the other's load.</summary>
[CollectionDefinition(Name)]
public sealed class SagaRepositoryCollection
{
    public const string Name = "Saga repository";
}

/// <summary>
/// Our EF Core saga repository under a real MassTransit bus, the same on every database it supports: concurrency,
/// creation races, missing instances, rollback with the outbox, read-only events, deletion, query correlation, the
/// read-side repositories, and the real inference saga on the migrated schema.
/// </summary>
public abstract class SagaRepository_Specs<TDatabase>(TDatabase database, ITestOutputHelper output)
    : IClassFixture<TDatabase>, IAsyncLifetime
    where TDatabase : SagaDatabase
{
    /// <summary>Increments sent one by one before a measurement, so that it does not time the first use of each path.</summary>
    private const int WarmUp = 20;

    /// <summary>Whole microseconds, the finest PostgreSQL's timestamp columns keep, so stored times compare exactly.</summary>
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(1.5) + TimeSpan.FromTicks(10);

    private SagaBus? _bus;

    private SagaBus Bus => _bus ?? throw new InvalidOperationException("The bus has not started.");

    public async Task InitializeAsync() => _bus = await SagaBus.StartAsync(database);

    public async Task DisposeAsync()
    {
        if (_bus is not null)
            await _bus.DisposeAsync();
    }

    [Fact]
    public async Task Should_apply_300_concurrent_events_to_one_saga_without_a_fault_or_a_retry()
    {
        const int events = 300;
        var id = await StartCounterAsync();
        await WarmUpAsync(id);

        var elapsed = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, events).Select(_ => Bus.SendToCounterAsync(new Increment(id))));
        await Bus.Messages.Finished<Increment>(WarmUp + events, TimeSpan.FromSeconds(60));
        elapsed.Stop();

        output.WriteLine($"{database.Provider}: {events} concurrent updates of one saga in {elapsed.ElapsedMilliseconds} ms, " +
            $"{events / elapsed.Elapsed.TotalSeconds:F0} messages/s, {Bus.CounterRetries.Retries} retries.");
        Assert.Empty(Bus.Messages.Faults);
        Assert.Empty(Bus.Messages.Published<Fault<Increment>>());
        Assert.True(Bus.CounterRetries.Retries == 0,
            "The lock should serialise the updates without conflicts, yet attempts failed: " +
            string.Join("; ", Bus.CounterRetries.Failures.Select(x => x.GetType().Name + ": " + x.Message).Distinct()));
        var counter = await LoadCounterAsync(id);
        Assert.Equal(WarmUp + events, counter.Count);
        Assert.Equal(WarmUp + events, counter.Version);
    }

    [Fact]
    public async Task Should_apply_sequential_events_to_one_saga_each_exactly_once()
    {
        const int events = 200;
        var id = await StartCounterAsync();
        await WarmUpAsync(id);

        var elapsed = Stopwatch.StartNew();
        for (var sent = 1; sent <= events; sent++)
        {
            await Bus.SendToCounterAsync(new Increment(id));
            await Bus.Messages.Finished<Increment>(WarmUp + sent);
        }

        elapsed.Stop();

        output.WriteLine($"{database.Provider}: {events} sequential updates of one saga in {elapsed.ElapsedMilliseconds} ms, " +
            $"{events / elapsed.Elapsed.TotalSeconds:F0} messages/s.");
        Assert.Empty(Bus.Messages.Faults);
        var counter = await LoadCounterAsync(id);
        Assert.Equal(WarmUp + events, counter.Count);
        Assert.Equal(WarmUp + events, counter.Version);
    }

    [Fact]
    public async Task Should_create_one_instance_from_concurrent_duplicate_initial_events()
    {
        const int copies = 20;
        var id = NewId.NextGuid();
        var label = Label();

        await Task.WhenAll(Enumerable.Range(0, copies).Select(_ => Bus.SendToCounterAsync(new StartCounter(id, label))));
        await Bus.Messages.Finished<StartCounter>(copies);

        output.WriteLine($"{database.Provider}: {copies} concurrent creations of one saga took {Bus.CounterRetries.Retries} retries " +
            $"({string.Join(", ", Bus.CounterRetries.Failures.Select(x => x.GetType().Name).Distinct())}).");
        Assert.Empty(Bus.Messages.Faults);
        await using (var scope = Bus.Services.CreateAsyncScope())
        {
            var counters = scope.ServiceProvider.GetRequiredService<CounterDbContext>().Counters;
            Assert.Equal(1, await counters.CountAsync(x => x.Label == label));
        }

        var counter = await LoadCounterAsync(id);
        Assert.Equal(("Counting", 0, 0), (counter.CurrentState, counter.Count, counter.Version));

        // The attempts that lost the race published too, into the outbox, which dropped it with their rollback.
        Assert.Single(Bus.Messages.Published<CounterStarted>(), x => x.CounterId == id);
    }

    [Fact]
    public async Task Should_create_one_instance_from_concurrent_duplicate_inserts_without_a_retry()
    {
        const int copies = 20;
        var id = NewId.NextGuid();
        var label = Label();

        await Task.WhenAll(Enumerable.Range(0, copies).Select(_ => Bus.SendToCounterAsync(new StartCounterEagerly(id, label))));
        await Bus.Messages.Finished<StartCounterEagerly>(copies);

        Assert.Empty(Bus.Messages.Faults);

        // A duplicate insert is rolled back to its savepoint and the transaction goes on to load the winner's row; on
        // PostgreSQL, without the savepoint, the whole transaction would be aborted and the message retried.
        Assert.True(Bus.CounterRetries.Retries == 0,
            "Duplicate inserts were retried: " + string.Join("; ", Bus.CounterRetries.Failures.Select(x => x.Message).Distinct()));
        var counter = await LoadCounterAsync(id);
        Assert.Equal(("Counting", label, 0), (counter.CurrentState, counter.Label, counter.Count));
        Assert.Single(Bus.Messages.Published<CounterStarted>(), x => x.CounterId == id);
    }

    [Fact]
    public async Task Should_fault_an_event_for_a_missing_instance_and_create_no_row()
    {
        var id = NewId.NextGuid();

        await Bus.SendToCounterAsync(new Increment(id));
        await Bus.Messages.Finished<Increment>(1);

        Assert.Single(Bus.Messages.Faulted<Increment>());
        await Eventually.Holds(() => Bus.Messages.Published<Fault<Increment>>().Any(x => x.Message.CounterId == id),
            "the fault is published");
        Assert.Null(await Bus.LoadAsync<CounterState>(id));
    }

    [Fact]
    public async Task Should_leave_the_row_unchanged_and_send_nothing_when_an_activity_throws()
    {
        var id = await StartCounterAsync();
        await Bus.SendToCounterAsync(new Increment(id));
        await Bus.Messages.Finished<Increment>(1);

        await Bus.SendToCounterAsync(new Explode(id));
        await Bus.Messages.Finished<Explode>(1);

        var fault = Assert.Single(Bus.Messages.Faulted<Explode>());
        Assert.Equal(id, fault.CounterId);
        await Eventually.Holds(() => Bus.Messages.Published<Fault<Explode>>().Any(x => x.Message.CounterId == id),
            "the fault is published");

        // Every attempt, the first and each retry, changed the instance and published before it threw.
        Assert.Equal(5, Bus.CounterRetries.Failures.Count(x => x.GetBaseException() is CounterExplodedException));
        Assert.Empty(Bus.Messages.Published<CounterExploding>());
        var counter = await LoadCounterAsync(id);
        Assert.Equal((1, 1), (counter.Count, counter.Version));
    }

    [Fact]
    public async Task Should_write_nothing_for_a_read_only_event()
    {
        var id = await StartCounterAsync();

        await Bus.SendToCounterAsync(new Peek(id));
        await Bus.SendToCounterAsync(new Increment(id));
        await Bus.Messages.Finished<Peek>(1);
        await Bus.Messages.Finished<Increment>(1);

        Assert.Empty(Bus.Messages.Faults);
        var counter = await LoadCounterAsync(id);
        Assert.Equal((1, 1), (counter.Count, counter.Version));
    }

    [Fact]
    public async Task Should_read_without_waiting_for_the_lock_a_writer_holds_for_a_read_only_event()
    {
        var id = await StartCounterAsync();

        await Bus.SendToCounterAsync(new Hold(id));
        await Bus.Gate.Entered.WaitAsync(TimeSpan.FromSeconds(20));
        await Bus.SendToCounterAsync(new Peek(id));
        var peekedWhileHeld = await Bus.Messages.Finished<Peek>(1).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(t => t.IsCompletedSuccessfully);
        Bus.Gate.Release();
        await Bus.Messages.Finished<Hold>(1);

        Assert.True(peekedWhileHeld, "The read-only event waited for the lock of the message that held the row.");
        Assert.Empty(Bus.Messages.Faults);
        Assert.Equal(1, (await LoadCounterAsync(id)).Count);
    }

    [Fact]
    public async Task Should_delete_the_row_when_the_saga_is_finalized()
    {
        var id = await StartCounterAsync();

        await Bus.SendToCounterAsync(new Finish(id));
        await Bus.Messages.Finished<Finish>(1);

        Assert.Empty(Bus.Messages.Faults);
        Assert.Null(await Bus.LoadAsync<CounterState>(id));
    }

    [Fact]
    public async Task Should_hold_the_lock_from_the_load_until_the_message_is_done_without_blocking_readers()
    {
        var id = await StartCounterAsync();
        Assert.False(await database.IsLockedAsync(id));

        await Bus.SendToCounterAsync(new Hold(id));
        await Bus.Gate.Entered.WaitAsync(TimeSpan.FromSeconds(20));
        var lockedInside = await database.IsLockedAsync(id);
        var readInside = await Bus.LoadAsync<CounterState>(id).WaitAsync(TimeSpan.FromSeconds(5));
        Bus.Gate.Release();
        await Bus.Messages.Finished<Hold>(1);

        Assert.True(lockedInside, "While the state machine ran, another connection could have written the row.");

        // Readers (the API's status queries) do not wait for the writer; they see the last committed row.
        Assert.Equal(0, readInside?.Count);
        Assert.False(await database.IsLockedAsync(id));
        Assert.Equal(1, (await LoadCounterAsync(id)).Count);
    }

    [Fact]
    public async Task Should_save_updates_even_when_the_context_reads_without_tracking_by_default()
    {
        await using var bus = await SagaBus.StartAsync(database, db => db.UseQueryTrackingBehavior(QueryTrackingBehavior.NoTracking));
        var label = Label();
        var id = NewId.NextGuid();
        await bus.SendToCounterAsync(new StartCounter(id, label));
        await bus.Messages.Finished<StartCounter>(1);

        await bus.SendToCounterAsync(new Increment(id));
        await bus.Messages.Finished<Increment>(1);
        await bus.PublishAsync(new IncrementLabelled(label));
        await bus.Messages.Finished<IncrementLabelled>(1);

        Assert.Empty(bus.Messages.Faults);
        var counter = await bus.LoadAsync<CounterState>(id);
        Assert.NotNull(counter);
        Assert.Equal((2, 2), (counter.Count, counter.Version));
    }

    [Fact]
    public async Task Should_update_every_instance_that_an_event_correlated_by_query_matches()
    {
        var label = Label();
        var matching = new[] { await StartCounterAsync(label), await StartCounterAsync(label), await StartCounterAsync(label) };
        var other = await StartCounterAsync();

        await Bus.PublishAsync(new IncrementLabelled(label));
        await Bus.Messages.Finished<IncrementLabelled>(1);

        Assert.Empty(Bus.Messages.Faults);
        foreach (var id in matching)
        {
            var counter = await LoadCounterAsync(id);
            Assert.Equal((1, 1), (counter.Count, counter.Version));
        }

        var untouched = await LoadCounterAsync(other);
        Assert.Equal((0, 0), (untouched.Count, untouched.Version));
    }

    [Fact]
    public async Task Should_read_rows_through_the_load_and_query_repositories()
    {
        var label = Label();
        var first = await StartCounterAsync(label);
        var second = await StartCounterAsync(label);
        await StartCounterAsync();
        await Bus.SendToCounterAsync(new Increment(second));
        await Bus.Messages.Finished<Increment>(1);

        var loaded = await Bus.LoadAsync<CounterState>(second);
        var found = await Bus.Services.GetRequiredService<IQuerySagaRepository<CounterState>>()
            .Find(new MassTransit.Saga.SagaQuery<CounterState>(x => x.Label == label));
        var none = await Bus.Services.GetRequiredService<IQuerySagaRepository<CounterState>>()
            .Find(new MassTransit.Saga.SagaQuery<CounterState>(x => x.Label == label && x.Count > 5));

        Assert.NotNull(loaded);
        Assert.Equal((second, label, "Counting", 1, 1), (loaded.CorrelationId, loaded.Label, loaded.CurrentState, loaded.Count, loaded.Version));
        Assert.Null(await Bus.LoadAsync<CounterState>(NewId.NextGuid()));
        Assert.Equal(new[] { first, second }.Order(), found.Order());
        Assert.Empty(none);
    }

    [Fact]
    public async Task Should_store_an_inference_with_its_history_and_bump_its_version_only_on_real_changes()
    {
        var id = NewId.NextGuid();
        var submission = Submission(id);
        var submittedAt = submission.SubmittedAt!.Value;
        submittedAt = submittedAt.AddTicks(-(submittedAt.Ticks % TimeSpan.TicksPerMillisecond));
        var machine = Bus.Services.GetRequiredService<InferenceStateMachine>();
        var t0 = Bus.Clock.GetUtcNow();

        await Bus.SendAsync(InferenceEndpoints.Orchestrator, submission);
        var submitted = await InferenceInStateAsync(id, machine.Submitted);

        Assert.Equal(("tenant-a", "all-minilm-l6-v2", 2, 2 * ScriptedGate.TokensPerInput, 2L * ScriptedGate.TokensPerInput), (submitted.TenantId, submitted.Model, submitted.InputCount,
            submitted.PromptTokens, submitted.ReservedTokens));
        Assert.Equal(submission.Inputs, submitted.Inputs!);
        // Kept to the millisecond, as every store keeps it.
        Assert.Equal((submittedAt, t0), (submitted.CreatedAt, submitted.UpdatedAt));
        Assert.Equal([new StatusChange("Submitted", t0)], submitted.History);
        Assert.Equal(0, submitted.Version);

        // A redelivery is ignored by the machine, so the repository must not write the row either.
        await Bus.SendAsync(InferenceEndpoints.Orchestrator, submission with { Inputs = ["something else"] });
        await Bus.Messages.Finished<SubmitInference>(2);
        var redelivered = await LoadInferenceAsync(id);
        Assert.Equal(submission.Inputs, redelivered.Inputs!);
        Assert.Equal(0, redelivered.Version);

        Bus.Clock.Advance(Step);
        var t1 = Bus.Clock.GetUtcNow();
        await Bus.PublishAsync(new QuotaReserved { InferenceId = id, Tokens = 21 });
        var reserved = await InferenceInStateAsync(id, machine.QuotaReserved);
        Assert.Equal(1, reserved.Version);
        Assert.Equal(t1, reserved.UpdatedAt);

        Bus.Clock.Advance(Step);
        await Bus.PublishAsync(new QuotaReserved { InferenceId = id, Tokens = 21 });
        await Bus.Messages.Finished<QuotaReserved>(2);
        Assert.Equal(1, (await LoadInferenceAsync(id)).Version);

        var t2 = Bus.Clock.GetUtcNow();
        await Bus.PublishAsync(new InferenceStarted { InferenceId = id, StartedAt = t2 });
        var inferring = await InferenceInStateAsync(id, machine.Inferring);

        Assert.Empty(Bus.Messages.Faults);
        Assert.Equal(2, inferring.Version);
        Assert.Equal(
            [new StatusChange("Submitted", t0), new StatusChange("QuotaReserved", t1), new StatusChange("Inferring", t2)],
            inferring.History);
        Assert.Equal(submittedAt, inferring.CreatedAt);

        // Stored as a JSON document the database itself can read, not as an opaque blob.
        await using var scope = Bus.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        var json = await db.Database.SqlQuery<string>($"SELECT history AS \"Value\" FROM inference_sagas WHERE correlation_id = {id}")
            .SingleAsync();
        using var document = JsonDocument.Parse(json);
        Assert.Equal(["Submitted", "QuotaReserved", "Inferring"],
            document.RootElement.EnumerateArray().Select(x => x.GetProperty("state").GetString()));
    }

    [Fact]
    public async Task Should_store_one_inference_and_reserve_its_quota_once_for_concurrent_duplicate_submissions()
    {
        const int copies = 10;
        var id = NewId.NextGuid();
        var submission = Submission(id);

        await Task.WhenAll(Enumerable.Range(0, copies).Select(_ => Bus.SendAsync(InferenceEndpoints.Orchestrator, submission)));
        await Bus.Messages.Finished<SubmitInference>(copies);

        Assert.Empty(Bus.Messages.Faults);
        var stored = await LoadInferenceAsync(id);
        Assert.Equal(("Submitted", 0), (stored.CurrentState, stored.Version));
        Assert.Single(stored.History);

        // Each losing attempt sent its ReserveQuota into the outbox too; only the committed one may leave.
        Assert.Single(Bus.Messages.Sent<ReserveQuota>(), x => x.InferenceId == id);
    }

    [Fact]
    public async Task Should_refuse_a_bus_submission_the_store_cannot_hold_and_write_nothing()
    {
        // PostgreSQL's text and jsonb cannot hold NUL: stored, this row would have failed and faulted the submission.
        var id = NewId.NextGuid();
        var client = Bus.Services.GetRequiredService<IBus>().CreateRequestClient<SubmitInference>(
            new Uri($"queue:{InferenceEndpoints.Orchestrator}"));

        var response = await client.GetResponse<InferenceAccepted, InferenceRejected>(Submission(id) with { Inputs = ["nul \0 here"] });

        Assert.True(response.Is(out Response<InferenceRejected>? rejected), $"Expected a rejection, got {response.Message}.");
        Assert.Equal("input_invalid_character", rejected.Message.Code);
        await Bus.Messages.Finished<SubmitInference>(1);
        Assert.Empty(Bus.Messages.Faults);
        Assert.Null(await Bus.LoadAsync<InferenceState>(id));
        Assert.Empty(await Bus.OutboxAsync(id));
        Assert.DoesNotContain(Bus.Messages.Sent<ReserveQuota>(), x => x.InferenceId == id);
    }

    [Fact]
    public async Task Should_fault_an_inference_event_for_an_unknown_request_and_create_no_row()
    {
        var id = NewId.NextGuid();

        await Bus.PublishAsync(new QuotaReserved { InferenceId = id, Tokens = 5 });
        await Bus.Messages.Finished<QuotaReserved>(1);

        Assert.Single(Bus.Messages.Faulted<QuotaReserved>());
        await Eventually.Holds(() => Bus.Messages.Published<Fault<QuotaReserved>>().Any(x => x.Message.InferenceId == id),
            "the fault is published");
        Assert.Null(await Bus.LoadAsync<InferenceState>(id));
    }

    [Fact]
    public async Task Should_store_a_bus_submission_dated_with_an_offset_other_than_utc()
    {
        var id = NewId.NextGuid();
        var submittedAt = (Bus.Clock.GetUtcNow() - TimeSpan.FromSeconds(3)).ToOffset(TimeSpan.FromHours(2));

        await Bus.SendAsync(InferenceEndpoints.Orchestrator, Submission(id) with { SubmittedAt = submittedAt });

        var stored = await InferenceInStateAsync(id, Bus.Services.GetRequiredService<InferenceStateMachine>().Submitted);
        Assert.Empty(Bus.Messages.Faults);
        Assert.Equal(submittedAt.AddTicks(-(submittedAt.Ticks % TimeSpan.TicksPerMillisecond)), stored.CreatedAt);
    }

    [Fact]
    public async Task Should_answer_a_status_query_or_a_cancel_for_an_unknown_request_with_not_found()
    {
        var id = NewId.NextGuid();
        var bus = Bus.Services.GetRequiredService<IBus>();

        var status = await bus.CreateRequestClient<GetInferenceStatus>(InferenceEndpoints.OrchestratorAddress)
            .GetResponse<InferenceStatus, InferenceNotFound>(new GetInferenceStatus { InferenceId = id });
        var cancel = await bus.CreateRequestClient<CancelInference>(InferenceEndpoints.OrchestratorAddress)
            .GetResponse<InferenceStatus, CancelInferenceRejected, InferenceNotFound>(new CancelInference { InferenceId = id });

        Assert.True(status.Is(out Response<InferenceNotFound>? _), $"Expected not found, got {status.Message}.");
        Assert.True(cancel.Is(out Response<InferenceNotFound>? _), $"Expected not found, got {cancel.Message}.");
        Assert.Empty(Bus.Messages.Faults);
        Assert.Null(await Bus.LoadAsync<InferenceState>(id));
    }

    [Fact]
    public async Task Should_answer_a_status_query_from_the_stored_row_without_changing_it()
    {
        var id = NewId.NextGuid();
        await Bus.SendAsync(InferenceEndpoints.Orchestrator, Submission(id));
        var before = await InferenceInStateAsync(id, Bus.Services.GetRequiredService<InferenceStateMachine>().Submitted);

        var status = await Bus.Services.GetRequiredService<IBus>().CreateRequestClient<GetInferenceStatus>(InferenceEndpoints.OrchestratorAddress)
            .GetResponse<InferenceStatus, InferenceNotFound>(new GetInferenceStatus { InferenceId = id, TenantId = "tenant-a" });

        Assert.True(status.Is(out Response<InferenceStatus>? answer), $"Expected the status, got {status.Message}.");
        Assert.Equal((InferenceStatusNames.Submitted, false), (answer.Message.Status, answer.Message.IsFinal));
        Assert.Empty(Bus.Messages.Faults);
        var after = await LoadInferenceAsync(id);
        Assert.Equal((before.Version, before.UpdatedAt), (after.Version, after.UpdatedAt));
    }

    private async Task WarmUpAsync(Guid id)
    {
        for (var sent = 1; sent <= WarmUp; sent++)
        {
            await Bus.SendToCounterAsync(new Increment(id));
            await Bus.Messages.Finished<Increment>(sent);
        }
    }

    private SubmitInference Submission(Guid id) => new()
    {
        InferenceId = id,
        TenantId = "tenant-a",
        Model = "all-minilm-l6-v2",
        Inputs = ["A man is playing a guitar.", "Ünïcödé, \"quotes\" and commas"],
        SubmittedAt = Bus.Clock.GetUtcNow() - TimeSpan.FromSeconds(3),
    };

    private static string Label() => "label-" + Guid.NewGuid().ToString("N");

    private async Task<Guid> StartCounterAsync(string? label = null)
    {
        var id = NewId.NextGuid();
        await Bus.SendToCounterAsync(new StartCounter(id, label ?? Label()));
        await Eventually.Holds(async () => await Bus.LoadAsync<CounterState>(id) is not null, $"counter {id} exists");
        return id;
    }

    private async Task<CounterState> LoadCounterAsync(Guid id) =>
        await Bus.LoadAsync<CounterState>(id) ?? throw new Xunit.Sdk.XunitException($"Counter {id} has no row.");

    private async Task<InferenceState> LoadInferenceAsync(Guid id) =>
        await Bus.LoadAsync<InferenceState>(id) ?? throw new Xunit.Sdk.XunitException($"Inference {id} has no row.");

    private async Task<InferenceState> InferenceInStateAsync(Guid id, State state)
    {
        InferenceState? instance = null;
        await Eventually.Holds(async () => (instance = await Bus.LoadAsync<InferenceState>(id))?.CurrentState == state.Name,
            $"inference {id} is {state.Name}");
        return instance!;
    }
}
