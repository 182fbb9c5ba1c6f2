using Inference.Orchestration;
using Inference.Server.Idempotency;
using Inference.Server.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Results;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Tests.Persistence;
using Inference.Server.Tests.Quota;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Orchestration;

public sealed class When_ended_requests_expire_in_PostgreSQL(PostgresSagaDatabase database)
    : Retention_Specs<PostgresSagaDatabase>(database);

public sealed class When_ended_requests_expire_in_SQLite(SqliteSagaDatabase database)
    : Retention_Specs<SqliteSagaDatabase>(database);

/// <summary>
/// The retention job's deletes on each database it supports, with the saga's rows written as the saga writes them and
/// a clock that stands still; one run is called directly, not waited for.
/// </summary>
public abstract class Retention_Specs<TDatabase>(TDatabase database) : IClassFixture<TDatabase>, IAsyncLifetime
    where TDatabase : SagaDatabase
{
    private static readonly DateTimeOffset Now = new(2031, 5, 17, 10, 15, 0, TimeSpan.Zero);

    private readonly ManualTimeProvider _clock = new(Now);
    private readonly RetentionOptions _options = new();
    private ServiceProvider _provider = null!;

    public async Task InitializeAsync()
    {
        var services = new ServiceCollection();
        database.AddTo(services);
        _provider = services.BuildServiceProvider(validateScopes: true);

        // One database serves the class: each spec starts from empty tables.
        await using var scope = _provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        await db.Results.ExecuteDeleteAsync();
        await db.IdempotencyKeys.ExecuteDeleteAsync();
        await db.Inferences.ExecuteDeleteAsync();
    }

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    [Fact]
    public async Task Should_delete_requests_of_every_final_state_that_ended_longer_ago_than_FinalAfter_with_their_results()
    {
        var expired = new List<Guid>();
        foreach (var state in InferenceStates.FinalStates)
        {
            expired.Add(await StoreAsync(state, updatedAgo: _options.FinalAfter + TimeSpan.FromSeconds(1)));
            expired.Add(await StoreAsync(state, updatedAgo: TimeSpan.FromDays(400)));
        }

        var deleted = await Job().RunOnceAsync(CancellationToken.None);

        Assert.Equal(expired.Count, deleted);
        Assert.Empty(await SagaIdsAsync());
        Assert.Empty(await ResultIdsAsync());
    }

    [Fact]
    public async Task Should_keep_final_requests_younger_than_FinalAfter_and_their_results()
    {
        var kept = new List<Guid>();
        foreach (var state in InferenceStates.FinalStates)
        {
            kept.Add(await StoreAsync(state, updatedAgo: _options.FinalAfter - TimeSpan.FromSeconds(1)));
            kept.Add(await StoreAsync(state, updatedAgo: _options.FinalAfter)); // deleted only once strictly older
        }

        var expired = await StoreAsync(InferenceStates.Completed, updatedAgo: _options.FinalAfter + TimeSpan.FromTicks(10));

        Assert.Equal(1, await Job().RunOnceAsync(CancellationToken.None));
        Assert.Equal(kept.Order(), await SagaIdsAsync());
        Assert.Equal(kept.Order(), await ResultIdsAsync());
        Assert.DoesNotContain(expired, await ResultIdsAsync());
    }

    [Fact]
    public async Task Should_never_delete_an_unfinished_request_however_old()
    {
        var unfinished = new List<Guid>();
        foreach (var state in InferenceStates.UnfinishedStates)
            unfinished.Add(await StoreAsync(state, updatedAgo: TimeSpan.FromDays(3650), withResult: false));

        // A result stored while the request is still Inferring (the saga has not heard yet) stays with it.
        var inferring = await StoreAsync(InferenceStates.Inferring, updatedAgo: TimeSpan.FromDays(3650));
        unfinished.Add(inferring);

        Assert.Equal(0, await Job().RunOnceAsync(CancellationToken.None));
        Assert.Equal(unfinished.Order(), await SagaIdsAsync());
        Assert.Equal([inferring], await ResultIdsAsync());
    }

    [Fact]
    public async Task Should_delete_more_requests_than_one_batch_in_one_run()
    {
        _options.BatchSize = 3;
        for (var i = 0; i < 10; i++)
            await StoreAsync(InferenceStates.FinalStates[i % 3], updatedAgo: _options.FinalAfter + TimeSpan.FromMinutes(i + 1));
        var young = await StoreAsync(InferenceStates.Completed, updatedAgo: TimeSpan.FromMinutes(1));

        Assert.Equal(10, await Job().RunOnceAsync(CancellationToken.None));
        Assert.Equal([young], await SagaIdsAsync());
        Assert.Equal([young], await ResultIdsAsync());
    }

    [Fact]
    public async Task Should_delete_exactly_one_batch_when_that_is_all_there_is()
    {
        _options.BatchSize = 4;
        for (var i = 0; i < 4; i++)
            await StoreAsync(InferenceStates.Failed, updatedAgo: TimeSpan.FromDays(30));

        Assert.Equal(4, await Job().RunOnceAsync(CancellationToken.None));
        Assert.Empty(await SagaIdsAsync());
        Assert.Equal(0, await Job().RunOnceAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Should_delete_a_request_once_it_has_been_final_for_FinalAfter_as_the_clock_moves()
    {
        var completed = await StoreAsync(InferenceStates.Completed, updatedAgo: TimeSpan.Zero);
        var job = Job();

        Assert.Equal(0, await job.RunOnceAsync(CancellationToken.None));
        _clock.Advance(_options.FinalAfter);
        Assert.Equal(0, await job.RunOnceAsync(CancellationToken.None));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await job.RunOnceAsync(CancellationToken.None));

        Assert.DoesNotContain(completed, await SagaIdsAsync());
        Assert.Empty(await ResultIdsAsync());
    }

    [Fact]
    public async Task Should_be_harmless_when_several_orchestrators_run_it_at_once()
    {
        _options.BatchSize = 5;
        for (var i = 0; i < 40; i++)
            await StoreAsync(InferenceStates.FinalStates[i % 3], updatedAgo: TimeSpan.FromDays(8));
        var kept = await StoreAsync(InferenceStates.Inferring, updatedAgo: TimeSpan.FromDays(8));

        var runs = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => Job().RunOnceAsync(CancellationToken.None))));

        Assert.Equal(40, runs.Sum());
        Assert.Equal([kept], await SagaIdsAsync());
        Assert.Equal([kept], await ResultIdsAsync());
    }

    [Fact]
    public async Task Should_delete_idempotency_keys_older_than_their_window_and_those_of_deleted_requests()
    {
        var young = await StoreAsync(InferenceStates.Completed, updatedAgo: TimeSpan.FromMinutes(1));
        var expired = await StoreAsync(InferenceStates.Completed, updatedAgo: _options.FinalAfter + TimeSpan.FromSeconds(1));
        await StoreKeyAsync("kept", young, createdAgo: IdempotencyKeys.Window - TimeSpan.FromSeconds(1));
        await StoreKeyAsync("too-old", young, createdAgo: IdempotencyKeys.Window);
        await StoreKeyAsync("of-a-deleted-request", expired, createdAgo: TimeSpan.FromMinutes(30));

        Assert.Equal(1, await Job().RunOnceAsync(CancellationToken.None));

        await using var scope = _provider.CreateAsyncScope();
        var keys = await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().IdempotencyKeys.Select(x => x.Key).ToListAsync();
        Assert.Equal(["kept"], keys);
    }

    private async Task StoreKeyAsync(string key, Guid inferenceId, TimeSpan createdAgo)
    {
        await using var scope = _provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
        db.IdempotencyKeys.Add(new IdempotencyKey
        {
            TenantId = "tenant-a", Key = key, Fingerprint = new byte[32], InferenceId = inferenceId, CreatedAt = Now - createdAgo,
        });
        await db.SaveChangesAsync();
    }

    private RetentionJob Job() => new(
        _provider.GetRequiredService<IServiceScopeFactory>(),
        Options.Create(_options),
        _clock,
        new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance),
        NullLogger<RetentionJob>.Instance);

    /// <summary>A request in <paramref name="state"/> last changed <paramref name="updatedAgo"/>, with a result unless told not.</summary>
    private async Task<Guid> StoreAsync(string state, TimeSpan updatedAgo, bool withResult = true)
    {
        var id = NewId.NextGuid();
        var updatedAt = Now - updatedAgo;
        var createdAt = updatedAt - TimeSpan.FromSeconds(2);
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
            UpdatedAt = updatedAt,
            DeadlineAt = createdAt + TimeSpan.FromMinutes(10),
            History = [new StatusChange(state, updatedAt)],
        });
        if (withResult)
            db.Results.Add(new InferenceResult { InferenceId = id, Embeddings = [1, 2, 3, 4], Dimensions = 1, CreatedAt = updatedAt });
        await db.SaveChangesAsync();
        return id;
    }

    private async Task<List<Guid>> SagaIdsAsync()
    {
        await using var scope = _provider.CreateAsyncScope();
        var ids = await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences.Select(x => x.CorrelationId).ToListAsync();
        return [.. ids.Order()];
    }

    private async Task<List<Guid>> ResultIdsAsync()
    {
        await using var scope = _provider.CreateAsyncScope();
        var ids = await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Results.Select(x => x.InferenceId).ToListAsync();
        return [.. ids.Order()];
    }
}

/// <summary>The job's settings, its place in the orchestrator role, and a database that is away.</summary>
public sealed class When_retention_is_configured_and_run
{
    [Fact]
    public void Should_run_in_the_orchestrator_role_only()
    {
        static bool Registered(bool jobs) => new ServiceCollection().AddOrchestration(jobs)
            .Any(x => x.ServiceType == typeof(IHostedService) && x.ImplementationType == typeof(RetentionJob));

        Assert.True(Registered(jobs: true));
        Assert.False(Registered(jobs: false));
    }

    [Fact]
    public void Should_bind_its_settings_and_default_to_seven_days()
    {
        Assert.Equal(TimeSpan.FromDays(7), Options(new()).FinalAfter);

        var options = Options(new()
        {
            ["Retention:FinalAfter"] = "30.00:00:00",
            ["Retention:Interval"] = "00:05:00",
            ["Retention:BatchSize"] = "100",
        });

        Assert.Equal(TimeSpan.FromDays(30), options.FinalAfter);
        Assert.Equal(TimeSpan.FromMinutes(5), options.Interval);
        Assert.Equal(100, options.BatchSize);
    }

    [Theory]
    [InlineData("Retention:FinalAfter", "00:00:10")]
    [InlineData("Retention:Interval", "00:00:00")]
    [InlineData("Retention:BatchSize", "0")]
    public void Should_refuse_settings_out_of_range(string key, string value)
    {
        var failure = Assert.Throws<OptionsValidationException>(() => Options(new() { [key] = value }));
        Assert.Contains(key.Split(':')[1], failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_warn_and_try_again_next_interval_while_the_database_is_away()
    {
        var logs = new CapturedLogs();
        var services = new ServiceCollection();
        services.AddDbContextPool<InferenceDbContext, PostgresInferenceDbContext>(db =>
            db.UseNpgsql("Host=127.0.0.1;Port=1;Username=nobody;Password=nothing;Database=none;Timeout=1"));
        await using var provider = services.BuildServiceProvider(validateScopes: true);
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        using var loggers = new LoggerFactory([logs]);
        using var job = new RetentionJob(
            provider.GetRequiredService<IServiceScopeFactory>(),
            Microsoft.Extensions.Options.Options.Create(new RetentionOptions { Interval = TimeSpan.FromMilliseconds(50) }),
            TimeProvider.System,
            lifetime,
            loggers.CreateLogger<RetentionJob>());

        await job.StartAsync(CancellationToken.None);
        lifetime.NotifyStarted();
        await Poll.UntilAsync(
            () => logs.Entries.Count(x => x.Level == LogLevel.Warning && x.Message.Contains("retention", StringComparison.OrdinalIgnoreCase)) >= 2,
            "two failed retention runs");

        Assert.False(job.ExecuteTask!.IsCompleted);
        await job.StopAsync(CancellationToken.None);
    }

    private static RetentionOptions Options(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddOrchestration(jobs: true);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<RetentionOptions>>().Value;
    }
}
