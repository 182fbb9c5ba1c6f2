using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Server.Messaging.Outbox;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Tests.Persistence;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Messaging;

public sealed class When_the_outbox_runs_on_PostgreSQL(PostgresSagaDatabase database) : Outbox_Specs<PostgresSagaDatabase>(database);

public sealed class When_the_outbox_runs_on_SQLite(SqliteSagaDatabase database) : Outbox_Specs<SqliteSagaDatabase>(database);

/// <summary>
/// The transactional outbox under the real inference saga, our repository and a real bus, on each database: what a
/// transition sends is committed with its row and leaves after it, at least once and in order, whatever fails between.
/// The broker is made to refuse sends for a while, which is what a crash, a lost connection or a broker restart between
/// the commit and the send all look like to the outbox.
/// </summary>
public abstract class Outbox_Specs<TDatabase>(TDatabase database) : IClassFixture<TDatabase>
    where TDatabase : SagaDatabase
{
    /// <summary>While set, every send of a message of the inference protocol fails as if the broker were away.</summary>
    private volatile bool _brokerAway;

    /// <summary>Delays each real send, so that two dispatchers are made to overlap.</summary>
    private TimeSpan _sendDelay;

    [Fact]
    public async Task Should_commit_a_transitions_messages_with_its_row_and_send_them_after()
    {
        await using var bus = await StartAsync();
        var id = NewId.NextGuid();

        await bus.SendAsync(InferenceEndpoints.Orchestrator, Submission(id));

        await bus.Messages.Finished<SubmitInference>(1);
        Assert.Equal(id, Assert.Single(bus.Messages.Sent<ReserveQuota>()).InferenceId);
        Assert.Equal("Submitted", (await bus.LoadAsync<InferenceState>(id))!.CurrentState);
        Assert.Empty(await bus.OutboxAsync(id));
        Assert.Empty(bus.Messages.Faults);
    }

    [Fact]
    public async Task Should_keep_what_a_committed_transition_could_not_send_and_deliver_it_on_the_next_sweep()
    {
        await using var bus = await StartAsync();
        var id = NewId.NextGuid();
        _brokerAway = true;

        await bus.SendAsync(InferenceEndpoints.Orchestrator, Submission(id));
        await bus.Messages.Finished<SubmitInference>(1);

        // The transition stands and its message waits in the outbox; the submission itself was done with, not retried.
        Assert.Empty(bus.Messages.Faults);
        Assert.Equal("Submitted", (await bus.LoadAsync<InferenceState>(id))!.CurrentState);
        Assert.Equal([OutboxSerializer.TypeName(typeof(ReserveQuota))], (await bus.OutboxAsync(id)).Select(x => x.MessageType));
        Assert.DoesNotContain(bus.Messages.Sent<ReserveQuota>(), x => x.InferenceId == id);

        _brokerAway = false;
        Assert.Equal(1, await bus.SweepOutboxAsync());

        Assert.Equal(id, Assert.Single(bus.Messages.Sent<ReserveQuota>()).InferenceId);
        Assert.Empty(await bus.OutboxAsync(id));
        Assert.Equal(0, await bus.SweepOutboxAsync());
    }

    [Fact]
    public async Task Should_deliver_the_requests_behind_one_whose_message_cannot_be_sent_and_keep_that_one()
    {
        await using var bus = await StartAsync();
        var (stuck, next) = (NewId.NextGuid(), NewId.NextGuid());
        await using (var scope = bus.Services.CreateAsyncScope())
        {
            // The oldest row names a type this version does not have, as a row written by another version would.
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            var unknown = OutboxMessage.For(stuck, InferenceStateMachine.QuotaQueue, new ReserveQuota { InferenceId = stuck, TenantId = "t", Tokens = 1 },
                bus.Clock.GetUtcNow());
            unknown.MessageType = "Inference.Contracts.NoLongerHere, Inference.Contracts";
            db.Outbox.Add(unknown);
            await db.SaveChangesAsync();
            db.Outbox.Add(OutboxMessage.For(next, InferenceStateMachine.QuotaQueue, new ReserveQuota { InferenceId = next, TenantId = "t", Tokens = 2 },
                bus.Clock.GetUtcNow()));
            await db.SaveChangesAsync();
        }

        Assert.Equal(1, await bus.SweepOutboxAsync());

        Assert.Equal(next, Assert.Single(bus.Messages.Sent<ReserveQuota>()).InferenceId);
        Assert.Single(await bus.OutboxAsync(stuck));
        Assert.Empty(await bus.OutboxAsync(next));
    }

    [Fact]
    public async Task Should_deliver_after_a_restart_what_a_process_left_between_its_commit_and_its_send()
    {
        var id = NewId.NextGuid();
        await using (var killed = await StartAsync())
        {
            // The request and its first step, committed as the API commits them, by a process that died right after.
            await using var scope = killed.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<InferenceDbContext>();
            var saga = new InferenceState { CorrelationId = id, CurrentState = InferenceStates.Submitted };
            InferenceStateMachine.Accept(saga, Submission(id), 21, null, killed.Clock.GetUtcNow(), TimeSpan.FromMinutes(10), null, null);
            InferenceStateMachine.Enter(saga, killed.Clock.GetUtcNow());
            db.Inferences.Add(saga);
            db.Outbox.Add(OutboxMessage.For(id, InferenceStateMachine.QuotaQueue, InferenceStateMachine.Reserve(saga), killed.Clock.GetUtcNow()));
            await db.SaveChangesAsync();
        }

        await using var next = await StartAsync();
        Assert.Equal(1, await next.SweepOutboxAsync());

        Assert.Equal((id, 21L), (Assert.Single(next.Messages.Sent<ReserveQuota>()).InferenceId, next.Messages.Sent<ReserveQuota>().Single().Tokens));
        Assert.Empty(await next.OutboxAsync(id));

        // The request goes on from there as any other.
        await next.PublishAsync(new QuotaReserved { InferenceId = id, Tokens = 21 });
        await Eventually.Holds(() => next.Messages.Sent<RunInference>().Any(x => x.InferenceId == id), "the work is queued");
        Assert.Equal("QuotaReserved", (await next.LoadAsync<InferenceState>(id))!.CurrentState);
    }

    [Fact]
    public async Task Should_send_a_requests_messages_in_the_order_its_transitions_wrote_them()
    {
        await using var bus = await StartAsync();
        var id = await SubmitAndReserveWhileTheBrokerIsAwayAsync(bus);
        Assert.Equal(2, (await bus.OutboxAsync(id)).Count);

        // The broker is back for the third transition: its dispatch must not overtake the two before it.
        _brokerAway = false;
        await bus.SendAsync(InferenceEndpoints.Orchestrator, new InferenceDeadlineReached { InferenceId = id, Deadline = bus.Clock.GetUtcNow() });
        await bus.Messages.Finished<InferenceDeadlineReached>(1);

        Assert.Equal([typeof(ReserveQuota), typeof(RunInference), typeof(ReleaseQuota)],
            bus.Messages.Sent<object>().Where(x => x is ReserveQuota or RunInference or ReleaseQuota).Select(x => x.GetType()));
        Assert.Empty(await bus.OutboxAsync(id));
        Assert.Equal("Failed", (await bus.LoadAsync<InferenceState>(id))!.CurrentState);
    }

    [Fact]
    public async Task Should_send_each_message_once_when_two_dispatchers_take_the_same_request_at_once()
    {
        await using var bus = await StartAsync();
        var id = await SubmitAndReserveWhileTheBrokerIsAwayAsync(bus);

        _brokerAway = false;
        _sendDelay = TimeSpan.FromMilliseconds(300);
        var dispatcher = bus.Services.GetRequiredService<OutboxDispatcher>();
        var dispatched = await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
        {
            await using var scope = bus.Services.CreateAsyncScope();
            return await dispatcher.DispatchAsync(scope.ServiceProvider.GetRequiredService<InferenceDbContext>(), id, CancellationToken.None);
        }));

        Assert.Equal([0, 2], dispatched.Order());
        Assert.Single(bus.Messages.Sent<ReserveQuota>(), x => x.InferenceId == id);
        Assert.Single(bus.Messages.Sent<RunInference>(), x => x.InferenceId == id);
        Assert.Empty(await bus.OutboxAsync(id));
    }

    /// <summary>Two transitions committed while every send fails: two messages wait in the outbox.</summary>
    private async Task<Guid> SubmitAndReserveWhileTheBrokerIsAwayAsync(SagaBus bus)
    {
        var id = NewId.NextGuid();
        _brokerAway = true;
        await bus.SendAsync(InferenceEndpoints.Orchestrator, Submission(id));
        await bus.Messages.Finished<SubmitInference>(1);
        await bus.PublishAsync(new QuotaReserved { InferenceId = id, Tokens = 21 });
        await bus.Messages.Finished<QuotaReserved>(1);
        return id;
    }

    private Task<SagaBus> StartAsync() => SagaBus.StartAsync(database, transport: configurator => configurator.ConfigureSend(send =>
        send.UseExecuteAsync(async context =>
        {
            if (context.DestinationAddress?.AbsolutePath.Trim('/') is ProtocolEndpoints.Quota or ProtocolEndpoints.QuotaSettlements
                || context.DestinationAddress?.AbsolutePath.Trim('/').StartsWith(ProtocolEndpoints.WorkerPrefix, StringComparison.Ordinal) == true)
            {
                if (_brokerAway)
                    throw new MassTransit.ConnectionException("The broker went away.");
                if (_sendDelay > TimeSpan.Zero)
                    await Task.Delay(_sendDelay);
            }
        })));

    private static SubmitInference Submission(Guid id) => new()
    {
        InferenceId = id,
        TenantId = "tenant-a",
        Model = "all-minilm-l6-v2",
        Inputs = ["A man is playing a guitar."],
        SubmittedAt = DateTimeOffset.UtcNow,
    };
}
