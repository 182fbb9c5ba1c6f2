using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Orchestration;
using Inference.Server.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Tests.Persistence;
using Inference.Server.Tests.Quota;
using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Orchestration;

public sealed class When_deadlines_are_swept_in_PostgreSQL(PostgresSagaDatabase database)
    : DeadlineSweeper_Specs<PostgresSagaDatabase>(database);

public sealed class When_deadlines_are_swept_in_SQLite(SqliteSagaDatabase database)
    : DeadlineSweeper_Specs<SqliteSagaDatabase>(database);

/// <summary>
/// The sweeper's queries on each database it supports, with the saga's rows written as the saga writes them and a
/// clock that stands still; what it tells the saga is read off MassTransit's test harness.
/// </summary>
public abstract class DeadlineSweeper_Specs<TDatabase>(TDatabase database) : IClassFixture<TDatabase>, IAsyncLifetime
    where TDatabase : SagaDatabase
{
    private static readonly DateTimeOffset Now = new(2031, 5, 17, 10, 15, 0, TimeSpan.Zero);

    private readonly ManualTimeProvider _clock = new(Now);
    private readonly OrchestrationOptions _options = new();
    private ServiceProvider _provider = null!;

    private ITestHarness Harness => _provider.GetRequiredService<ITestHarness>();

    public async Task InitializeAsync()
    {
        var services = new ServiceCollection();
        database.AddTo(services);
        services.AddMassTransitTestHarness(options => options.SetTestTimeouts(testInactivityTimeout: TimeSpan.FromMilliseconds(300)));
        _provider = services.BuildServiceProvider(validateScopes: true);
        await Harness.Start();

        // One database serves the class: each spec starts from an empty table.
        await using var scope = _provider.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences.ExecuteDeleteAsync();
    }

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    [Fact]
    public async Task Should_tell_the_saga_about_unfinished_requests_past_their_deadline_and_no_others()
    {
        var submitted = await StoreAsync("Submitted", deadlineIn: TimeSpan.FromSeconds(-1));
        var reserved = await StoreAsync("QuotaReserved", deadlineIn: TimeSpan.FromMinutes(-5));
        var inferring = await StoreAsync("Inferring", deadlineIn: TimeSpan.Zero);
        await StoreAsync("QuotaReserved", deadlineIn: TimeSpan.FromSeconds(1));
        await StoreAsync("Completed", deadlineIn: TimeSpan.FromMinutes(-5));
        await StoreAsync("Failed", deadlineIn: TimeSpan.FromMinutes(-5));
        await StoreAsync("Canceled", deadlineIn: TimeSpan.FromMinutes(-5));

        var told = await Sweeper().SweepAsync(CancellationToken.None);

        Assert.Equal(3, told);
        var sent = await SentAsync<InferenceDeadlineReached>(3);
        Assert.Equal(
            new[] { (reserved, Now.AddMinutes(-5)), (submitted, Now.AddSeconds(-1)), (inferring, Now) }.Order(),
            sent.Select(x => (x.Context.Message.InferenceId, x.Context.Message.Deadline)).Order());
        Assert.All(sent, x => Assert.Equal(InferenceEndpoints.Orchestrator, x.Context.DestinationAddress!.AbsolutePath.Trim('/')));
    }

    [Fact]
    public async Task Should_tell_the_saga_again_only_after_a_minute_if_the_request_is_still_unfinished()
    {
        var overdue = await StoreAsync("Inferring", deadlineIn: TimeSpan.FromSeconds(-1));
        var sweeper = Sweeper();

        Assert.Equal(1, await sweeper.SweepAsync(CancellationToken.None));
        _clock.Advance(DeadlineSweeper.ResendAfter - TimeSpan.FromSeconds(1));
        Assert.Equal(0, await sweeper.SweepAsync(CancellationToken.None));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await sweeper.SweepAsync(CancellationToken.None));

        Assert.All(await SentAsync<InferenceDeadlineReached>(2), x => Assert.Equal(overdue, x.Context.Message.InferenceId));
    }

    [Fact]
    public async Task Should_tell_the_longest_overdue_first_and_the_rest_on_later_sweeps()
    {
        _options.DeadlineSweepBatchSize = 2;
        var newest = await StoreAsync("Submitted", deadlineIn: TimeSpan.FromSeconds(-1));
        var oldest = await StoreAsync("Submitted", deadlineIn: TimeSpan.FromSeconds(-30));
        var middle = await StoreAsync("Submitted", deadlineIn: TimeSpan.FromSeconds(-20));
        var sweeper = Sweeper();

        Assert.Equal(2, await sweeper.SweepAsync(CancellationToken.None));
        Assert.Equal([oldest, middle], (await SentAsync<InferenceDeadlineReached>(2)).Select(x => x.Context.Message.InferenceId));

        // The saga has not got to the first two yet (a backlog): they must not hide the third.
        Assert.Equal(1, await sweeper.SweepAsync(CancellationToken.None));
        Assert.Equal(newest, (await SentAsync<InferenceDeadlineReached>(3)).Last().Context.Message.InferenceId);
        Assert.Equal(0, await sweeper.SweepAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Should_resume_the_unfinished_requests_a_previous_process_left()
    {
        var submitted = await StoreAsync("Submitted", deadlineIn: TimeSpan.FromMinutes(9), createdAgo: TimeSpan.FromMinutes(1));
        var inferring = await StoreAsync("Inferring", deadlineIn: TimeSpan.FromMinutes(9), createdAgo: TimeSpan.FromMinutes(1));
        await StoreAsync("Completed", deadlineIn: TimeSpan.FromMinutes(9), createdAgo: TimeSpan.FromMinutes(1));
        await StoreAsync("QuotaReserved", deadlineIn: TimeSpan.FromMinutes(10), createdAgo: TimeSpan.Zero);

        var resumed = await Sweeper().ResumeOrphansAsync(Now, CancellationToken.None);

        Assert.Equal(2, resumed);
        Assert.Equal(new[] { submitted, inferring }.Order(),
            (await SentAsync<ResumeInference>(2)).Select(x => x.Context.Message.InferenceId).Order());
    }

    private DeadlineSweeper Sweeper() => new(
        _provider.GetRequiredService<IServiceScopeFactory>(),
        Harness.Bus,
        new Inference.Server.Hosting.Infrastructure(null, null, null),
        Options.Create(_options),
        _clock,
        new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance),
        NullLogger<DeadlineSweeper>.Instance);

    private async Task<Guid> StoreAsync(string state, TimeSpan deadlineIn, TimeSpan? createdAgo = null)
    {
        var id = NewId.NextGuid();
        var createdAt = Now - (createdAgo ?? TimeSpan.FromMinutes(10));
        await using var scope = _provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        db.Inferences.Add(new InferenceState
        {
            CorrelationId = id,
            CurrentState = state,
            TenantId = "tenant-a",
            Model = "all-minilm-l6-v2",
            Inputs = InferenceStates.IsFinal(state) ? null : ["hello world"],
            InputCount = 1,
            CreatedAt = createdAt,
            UpdatedAt = createdAt,
            DeadlineAt = Now + deadlineIn,
            History = [new StatusChange(state, createdAt)],
        });
        await db.SaveChangesAsync();
        return id;
    }

    /// <summary>The messages of <typeparamref name="T"/> sent so far, once there are <paramref name="count"/>, in order.</summary>
    private async Task<List<ISentMessage<T>>> SentAsync<T>(int count)
        where T : class
    {
        await Poll.UntilAsync(() => Harness.Sent.Select<T>().Count() >= count, $"{count} {typeof(T).Name}");
        return [.. Harness.Sent.Select<T>()];
    }
}
