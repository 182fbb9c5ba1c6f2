using Inference.Contracts;
using Inference.Orchestration;
using Inference.Orchestration.Protocol;
using MassTransit;

namespace Inference.Server.Tests.Orchestration;

/// <summary>Moves a request into one of the machine's six states, the way it gets there.</summary>
internal static class States
{
    public static Task<InferenceState> Reach(this SagaHarness saga, Guid id, string state) => state switch
    {
        InferenceStates.Submitted => saga.Submit(id),
        InferenceStates.QuotaReserved => saga.Reserve(id),
        InferenceStates.Inferring => saga.Start(id),
        InferenceStates.Completed => saga.Complete(id),
        InferenceStates.Failed => saga.Fail(id),
        InferenceStates.Canceled => saga.Cancel(id),
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    public static async Task<InferenceState> Cancel(this SagaHarness saga, Guid id)
    {
        await saga.Start(id);
        await saga.Harness.Bus.Publish(new CancelInference { InferenceId = id });
        return await saga.InState(id, saga.Machine.Canceled);
    }

    public static int Published<T>(this SagaHarness saga, Guid id, Func<T, Guid> correlation)
        where T : class =>
        saga.Harness.Published.Select<T>(x => correlation(x.Context.Message) == id).Count();

    /// <summary>How many outcome events, of any kind, the request published.</summary>
    public static int Outcomes(this SagaHarness saga, Guid id) =>
        saga.Published<InferenceCompleted>(id, m => m.InferenceId)
        + saga.Published<InferenceFailed>(id, m => m.InferenceId)
        + saga.Published<InferenceCanceled>(id, m => m.InferenceId);

    public static SubmitInference WithCancelAfter(this SubmitInference submission, TimeSpan cancelAfter) =>
        submission with { CancelAfter = cancelAfter };
}

public sealed class When_a_request_is_canceled : SagaSpec
{
    public static TheoryData<string> Unfinished => [InferenceStates.Submitted, InferenceStates.QuotaReserved, InferenceStates.Inferring];

    public static TheoryData<string> Final => [InferenceStates.Completed, InferenceStates.Failed, InferenceStates.Canceled];

    [Theory]
    [MemberData(nameof(Unfinished))]
    public async Task Should_cancel_release_in_full_answer_with_the_new_status_and_publish_it_once(string state)
    {
        var id = NewId.NextGuid();
        await Saga.Reach(id, state);

        var response = await Saga.Harness.GetRequestClient<CancelInference>()
            .GetResponse<InferenceStatus, CancelInferenceRejected, InferenceNotFound>(new CancelInference { InferenceId = id, TenantId = "tenant-a" });

        Assert.True(response.Is(out Response<InferenceStatus>? status));
        Assert.Equal((InferenceStatusNames.Canceled, true, 0), (status.Message.Status, status.Message.IsFinal, status.Message.Usage.TotalTokens));
        Assert.Equal(ErrorCodes.Canceled, status.Message.Error!.Code);
        var instance = await Saga.InState(id, Saga.Machine.Canceled);
        Assert.Equal(InferenceStates.Canceled, instance.History[^1].State);
        Assert.Null(instance.Inputs);
        await Saga.SentMessage<ReleaseQuota>(m => m.InferenceId == id && m.TenantId == "tenant-a");
        await Saga.PublishedMessage<InferenceCanceled>(m => m.InferenceId == id);
        await Saga.Harness.InactivityTask;
        var canceled = Saga.Harness.Published.Select<InferenceCanceled>(x => x.Context.Message.InferenceId == id).Single().Context.Message;
        Assert.Equal((ErrorCodes.Canceled, "tenant-a", instance.UpdatedAt), (canceled.Reason.Code, canceled.TenantId, canceled.CanceledAt));
        Assert.Equal(1, Saga.Outcomes(id));
        Assert.True(await Saga.NothingSent<SettleQuota>(id, m => m.InferenceId));
    }

    [Theory]
    [MemberData(nameof(Final))]
    public async Task Should_refuse_with_inference_final_and_change_nothing_once_ended(string state)
    {
        var id = NewId.NextGuid();
        var before = await Saga.Reach(id, state);
        var history = before.History.ToList();
        await Saga.Harness.InactivityTask;
        var releases = Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id).Count();

        var response = await Saga.Harness.GetRequestClient<CancelInference>()
            .GetResponse<InferenceStatus, CancelInferenceRejected, InferenceNotFound>(new CancelInference { InferenceId = id });

        Assert.True(response.Is(out Response<CancelInferenceRejected>? rejected));
        Assert.Equal((ErrorCodes.InferenceFinal, InferenceStates.ToApi(state)), (rejected.Message.Code, rejected.Message.Status.Status));
        await Saga.Harness.InactivityTask;
        var after = Saga.Saga.Sagas.Contains(id)!;
        Assert.Equal(state, after.CurrentState);
        Assert.Equal(history, after.History);
        Assert.Equal(releases, Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id).Count());
        Assert.Equal(1, Saga.Outcomes(id));
    }

    [Fact]
    public async Task Should_not_find_another_tenants_request_or_an_unknown_one_and_change_nothing()
    {
        var id = NewId.NextGuid();
        await Saga.Start(id);
        var client = Saga.Harness.GetRequestClient<CancelInference>();

        var foreign = await client.GetResponse<InferenceStatus, CancelInferenceRejected, InferenceNotFound>(
            new CancelInference { InferenceId = id, TenantId = "tenant-b" });
        var unknown = await client.GetResponse<InferenceStatus, CancelInferenceRejected, InferenceNotFound>(
            new CancelInference { InferenceId = NewId.NextGuid() });

        Assert.True(foreign.Is(out Response<InferenceNotFound>? _));
        Assert.True(unknown.Is(out Response<InferenceNotFound>? _));
        await Saga.Harness.InactivityTask;
        Assert.Equal(InferenceStates.Inferring, Saga.Saga.Sagas.Contains(id)!.CurrentState);
        Assert.True(await Saga.NothingSent<ReleaseQuota>(id, m => m.InferenceId));
    }

    [Fact]
    public async Task Should_discard_a_result_that_arrives_after_the_cancel_and_charge_nothing()
    {
        var id = NewId.NextGuid();
        await Saga.Cancel(id);

        await Saga.Harness.Bus.Publish(SagaHarness.Success(id));
        await Saga.Harness.Bus.Publish(new ResultStored { InferenceId = id });

        await Saga.Harness.InactivityTask;
        var instance = Saga.Saga.Sagas.Contains(id)!;
        Assert.Equal((InferenceStates.Canceled, 0), (instance.CurrentState, instance.CompletionTokens));
        Assert.Equal(0, InferenceStateMachine.Status(instance).Usage.TotalTokens);
        Assert.True(await Saga.NothingSent<StoreResult>(id, m => m.InferenceId));
        Assert.True(await Saga.NothingSent<SettleQuota>(id, m => m.InferenceId));
        Assert.Equal(0, Saga.Published<InferenceCompleted>(id, m => m.InferenceId));
    }

    [Fact]
    public async Task Should_release_a_reservation_granted_after_the_cancel_and_never_queue_the_work()
    {
        var id = NewId.NextGuid();
        await Saga.Submit(id);
        await Saga.Harness.Bus.Publish(new CancelInference { InferenceId = id });
        await Saga.InState(id, Saga.Machine.Canceled);

        await Saga.Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = ScriptedGate.TokensPerInput });

        await Saga.ConsumedMessage<QuotaReserved>(m => m.InferenceId == id);
        await Saga.Harness.InactivityTask;
        Assert.Equal(2, Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id).Count());
        Assert.True(await Saga.NothingSent<RunInference>(id, m => m.InferenceId));
        Assert.Equal(InferenceStates.Canceled, Saga.Saga.Sagas.Contains(id)!.CurrentState);
    }

    [Fact]
    public async Task Should_stay_canceled_when_a_fault_or_the_deadline_follows()
    {
        var id = NewId.NextGuid();
        var instance = await Saga.Cancel(id);

        await Saga.Harness.Bus.Publish(SagaHarness.Faulted(new RunInference { InferenceId = id, Model = "m", Inputs = ["x"] }));
        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });

        await Saga.ConsumedMessage<InferenceDeadlineReached>(m => m.InferenceId == id);
        await Saga.Harness.InactivityTask;
        Assert.Equal((InferenceStates.Canceled, ErrorCodes.Canceled), (Saga.Saga.Sagas.Contains(id)!.CurrentState, Saga.Saga.Sagas.Contains(id)!.ErrorCode));
        Assert.Equal(1, Saga.Outcomes(id));
        Assert.Single(Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id));
    }

    [Fact]
    public async Task Should_refuse_a_cancel_that_comes_after_the_deadline_failed_the_request()
    {
        var id = NewId.NextGuid();
        var instance = await Saga.Start(id);
        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });
        await Saga.InState(id, Saga.Machine.Failed);

        var response = await Saga.Harness.GetRequestClient<CancelInference>()
            .GetResponse<InferenceStatus, CancelInferenceRejected, InferenceNotFound>(new CancelInference { InferenceId = id });

        Assert.True(response.Is(out Response<CancelInferenceRejected>? rejected));
        Assert.Equal(InferenceStatusNames.Failed, rejected.Message.Status.Status);
        Assert.Equal(ErrorCodes.DeadlineExceeded, rejected.Message.Status.Error!.Code);
    }

    [Fact]
    public async Task Should_publish_one_cancel_and_refuse_the_second_when_the_cancel_is_redelivered()
    {
        var id = NewId.NextGuid();
        await Saga.Cancel(id);

        await Saga.Redeliver(Saga.Consumed<CancelInference>(m => m.InferenceId == id));

        await Saga.Harness.InactivityTask;
        Assert.Equal(1, Saga.Published<InferenceCanceled>(id, m => m.InferenceId));
        Assert.Single(Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id));
        Assert.Equal(["Submitted", "QuotaReserved", "Inferring", "Canceled"], Saga.Saga.Sagas.Contains(id)!.History.Select(h => h.State));
    }
}

public sealed class When_a_client_deadline_is_set : SagaSpec
{
    [Fact]
    public async Task Should_store_it_as_the_deadline_and_give_it_to_the_worker()
    {
        var id = NewId.NextGuid();
        var endpoint = await Saga.Harness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress);
        await endpoint.Send(SagaHarness.Submission(id).WithCancelAfter(TimeSpan.FromSeconds(30)));
        await Saga.InState(id, Saga.Machine.Submitted);
        await Saga.Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = ScriptedGate.TokensPerInput });

        var instance = await Saga.InState(id, Saga.Machine.QuotaReserved);

        Assert.Equal(instance.CreatedAt + TimeSpan.FromSeconds(30), instance.CancelAt);
        Assert.Equal(instance.CancelAt, instance.DeadlineAt);
        var run = await Saga.SentMessage<RunInference>(m => m.InferenceId == id);
        Assert.Equal(instance.CancelAt, run.Context.Message.NotAfter);
    }

    [Theory]
    [InlineData(InferenceStates.Submitted)]
    [InlineData(InferenceStates.QuotaReserved)]
    [InlineData(InferenceStates.Inferring)]
    public async Task Should_cancel_with_cancel_after_elapsed_and_release_when_it_passes(string state)
    {
        var id = NewId.NextGuid();
        var endpoint = await Saga.Harness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress);
        await endpoint.Send(SagaHarness.Submission(id).WithCancelAfter(TimeSpan.FromSeconds(5)));
        await Saga.InState(id, Saga.Machine.Submitted);
        if (state != InferenceStates.Submitted)
        {
            await Saga.Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = ScriptedGate.TokensPerInput });
            await Saga.InState(id, Saga.Machine.QuotaReserved);
        }

        if (state == InferenceStates.Inferring)
        {
            await Saga.Harness.Bus.Publish(new InferenceStarted { InferenceId = id, StartedAt = DateTimeOffset.UtcNow });
            await Saga.InState(id, Saga.Machine.Inferring);
        }

        var instance = Saga.Saga.Sagas.Contains(id)!;
        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });

        instance = await Saga.InState(id, Saga.Machine.Canceled);
        Assert.Equal(ErrorCodes.CancelAfterElapsed, instance.ErrorCode);
        await Saga.SentMessage<ReleaseQuota>(m => m.InferenceId == id);
        await Saga.PublishedMessage<InferenceCanceled>(m => m.InferenceId == id && m.Reason.Code == ErrorCodes.CancelAfterElapsed);
        await Saga.Harness.InactivityTask;
        Assert.Equal(1, Saga.Outcomes(id));
        Assert.True(await Saga.NothingSent<SettleQuota>(id, m => m.InferenceId));
    }

    [Fact]
    public async Task Should_cancel_rather_than_fail_when_the_client_deadline_is_the_servers_own()
    {
        var id = NewId.NextGuid();
        var endpoint = await Saga.Harness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress);
        await endpoint.Send(SagaHarness.Submission(id).WithCancelAfter(new OrchestrationOptions().RequestDeadline));
        var instance = await Saga.InState(id, Saga.Machine.Submitted);
        Assert.Equal(instance.DeadlineAt, instance.CancelAt);

        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });

        Assert.Equal(ErrorCodes.CancelAfterElapsed, (await Saga.InState(id, Saga.Machine.Canceled)).ErrorCode);
    }

    [Fact]
    public async Task Should_tell_a_submitter_still_waiting_for_the_quota_decision_that_the_request_was_canceled()
    {
        var id = NewId.NextGuid();
        var waiting = Saga.Harness.GetRequestClient<SubmitInference>()
            .GetResponse<InferenceAccepted, InferenceRejected>(SagaHarness.Submission(id));
        await Saga.InState(id, Saga.Machine.Submitted);

        await Saga.Harness.Bus.Publish(new CancelInference { InferenceId = id, TenantId = "tenant-a" });

        var response = await waiting;
        Assert.True(response.Is(out Response<InferenceRejected>? rejected), $"Expected a rejection, got {response.Message}.");
        Assert.Equal(ErrorCodes.Canceled, rejected.Message.Code);
        var instance = await Saga.InState(id, Saga.Machine.Canceled);
        Assert.Null(instance.ResponseAddress);
    }

    [Fact]
    public async Task Should_count_deadlines_from_the_platforms_clock_when_the_submission_is_dated_in_the_future()
    {
        var id = NewId.NextGuid();
        var before = DateTimeOffset.UtcNow;
        var endpoint = await Saga.Harness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress);
        await endpoint.Send(SagaHarness.Submission(id) with { SubmittedAt = DateTimeOffset.UtcNow.AddYears(100), CancelAfter = TimeSpan.FromSeconds(30) });

        var instance = await Saga.InState(id, Saga.Machine.Submitted);

        Assert.InRange(instance.CreatedAt, before.AddMilliseconds(-1), DateTimeOffset.UtcNow);
        Assert.Equal(instance.CreatedAt + TimeSpan.FromSeconds(30), instance.DeadlineAt);
    }

    [Fact]
    public async Task Should_keep_the_servers_deadline_failing_requests_without_one()
    {
        var id = NewId.NextGuid();
        var instance = await Saga.Start(id);

        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });

        instance = await Saga.InState(id, Saga.Machine.Failed);
        Assert.Equal((ErrorCodes.DeadlineExceeded, null), (instance.ErrorCode, instance.CancelAt));
        await Saga.PublishedMessage<InferenceFailed>(m => m.InferenceId == id && m.Error.Code == ErrorCodes.DeadlineExceeded);
    }
}

public sealed class When_a_request_ends : SagaSpec
{
    [Fact]
    public async Task Should_publish_completed_once_with_the_stored_output_usage_and_times()
    {
        var id = NewId.NextGuid();
        await Saga.Succeed(id);
        var output = new InferenceOutput { Embeddings = [[0.6f, 0.8f]] };

        await Saga.Harness.Bus.Publish(new ResultStored { InferenceId = id, Output = output });
        var instance = await Saga.InState(id, Saga.Machine.Completed);
        await Saga.Redeliver(Saga.Consumed<ResultStored>(m => m.InferenceId == id));
        await Saga.Harness.Bus.Publish(new ResultStored { InferenceId = id, Output = output });

        await Saga.Harness.InactivityTask;
        var completed = Saga.Harness.Published.Select<InferenceCompleted>(x => x.Context.Message.InferenceId == id).Single().Context.Message;
        Assert.Equal(("tenant-a", "all-minilm-l6-v2", 11, 3), (completed.TenantId, completed.Model, completed.Usage.PromptTokens, completed.Usage.CompletionTokens));
        Assert.Equal([0.6f, 0.8f], Assert.Single(completed.Output.Embeddings!));
        Assert.Equal((instance.CreatedAt, instance.UpdatedAt), (completed.SubmittedAt, completed.CompletedAt));
        Assert.Equal(1, Saga.Outcomes(id));
    }

    [Fact]
    public async Task Should_publish_failed_once_for_a_fault_even_when_it_is_redelivered()
    {
        var id = NewId.NextGuid();
        var instance = await Saga.Fail(id);

        await Saga.Redeliver(Saga.Consumed<Fault<RunInference>>(m => m.Message.InferenceId == id));

        await Saga.Harness.InactivityTask;
        var failed = Saga.Harness.Published.Select<InferenceFailed>(x => x.Context.Message.InferenceId == id).Single().Context.Message;
        Assert.Equal((ErrorCodes.InferenceFailed, instance.ErrorMessage, instance.UpdatedAt), (failed.Error.Code, failed.Error.Message, failed.FailedAt));
        Assert.Equal(1, Saga.Outcomes(id));
    }

    [Fact]
    public async Task Should_publish_failed_once_when_the_quota_refuses_it()
    {
        var id = NewId.NextGuid();
        await Saga.Submit(id);

        await Saga.Harness.Bus.Publish(new QuotaRejected
        {
            InferenceId = id, Limit = "tokens_per_minute", LimitValue = 10, Remaining = 0, RetryAfter = TimeSpan.FromSeconds(3),
        });

        await Saga.PublishedMessage<InferenceFailed>(m => m.InferenceId == id && m.Error.Code == ErrorCodes.RateLimitTokens);
        await Saga.Harness.InactivityTask;
        Assert.Equal(1, Saga.Outcomes(id));
    }

    [Fact]
    public async Task Should_publish_the_refusal_of_a_bus_submission_as_its_outcome_with_the_rest_code()
    {
        var id = NewId.NextGuid();
        var endpoint = await Saga.Harness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress);

        await endpoint.Send(SagaHarness.Submission(id) with { Model = ScriptedGate.UnknownModel });

        await Saga.PublishedMessage<InferenceFailed>(m => m.InferenceId == id && m.Error.Code == "model_not_found");
        await Saga.Harness.InactivityTask;
        Assert.Equal(1, Saga.Outcomes(id));
        Assert.Null(await Saga.Stored(id));
        Assert.True(await Saga.NothingSent<ReserveQuota>(id, m => m.InferenceId));
    }

    [Fact]
    public async Task Should_publish_a_refusal_under_one_message_id_however_often_the_submission_comes()
    {
        var id = NewId.NextGuid();
        var endpoint = await Saga.Harness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress);

        // Nothing is stored for a refusal, so a redelivery (or a resend) is refused again and publishes again.
        await endpoint.Send(SagaHarness.Submission(id) with { Model = ScriptedGate.UnknownModel });
        await endpoint.Send(SagaHarness.Submission(id) with { Model = ScriptedGate.UnknownModel });
        await Saga.Harness.InactivityTask;

        // The harness lists a message id once: two refusals under two ids would be listed twice.
        Assert.Equal(2, Saga.Harness.Consumed.Select<SubmitInference>(x => x.Context.Message.InferenceId == id).Count());
        var published = Assert.Single(Saga.Harness.Published.Select<InferenceFailed>(x => x.Context.Message.InferenceId == id));
        Assert.Equal(InferenceStateMachine.RefusalMessageId(id), published.Context.MessageId);
        Assert.NotEqual(id, published.Context.MessageId);
    }

    [Fact]
    public async Task Should_keep_the_start_of_a_very_long_failure_message_within_what_the_store_holds()
    {
        var id = NewId.NextGuid();
        await Saga.Start(id);
        var exception = new InvalidOperationException(new string('x', 10_000));

        await Saga.Harness.Bus.Publish<Fault<RunInference>>(new MassTransit.Events.FaultEvent<RunInference>(
            new RunInference { InferenceId = id, Model = "m", Inputs = ["x"] }, NewId.NextGuid(), new MassTransit.Metadata.BusHostInfo(), exception, []));

        var instance = await Saga.InState(id, Saga.Machine.Failed);
        Assert.Equal(InferenceState.MaxErrorMessageLength, instance.ErrorMessage!.Length);
        Assert.StartsWith("System.InvalidOperationException: xxx", instance.ErrorMessage, StringComparison.Ordinal);
    }
}

public sealed class When_the_status_is_asked : SagaSpec
{
    public static TheoryData<string> AllStates =>
    [
        InferenceStates.Submitted, InferenceStates.QuotaReserved, InferenceStates.Inferring,
        InferenceStates.Completed, InferenceStates.Failed, InferenceStates.Canceled,
    ];

    [Theory]
    [MemberData(nameof(AllStates))]
    public async Task Should_answer_the_facts_of_the_rest_api_in_every_state_and_change_nothing(string state)
    {
        var id = NewId.NextGuid();
        var instance = await Saga.Reach(id, state);
        await Saga.Harness.InactivityTask;
        var history = instance.History.ToList();

        var response = await Saga.Harness.GetRequestClient<GetInferenceStatus>()
            .GetResponse<InferenceStatus, InferenceNotFound>(new GetInferenceStatus { InferenceId = id, TenantId = "tenant-a" });

        Assert.True(response.Is(out Response<InferenceStatus>? status));
        var expected = InferenceStateMachine.Status(Saga.Saga.Sagas.Contains(id)!);
        Assert.Equal((InferenceStates.ToApi(state), InferenceStates.IsFinal(state)), (status.Message.Status, status.Message.IsFinal));
        Assert.Equal(expected.Usage, status.Message.Usage);
        Assert.Equal(expected.Error, status.Message.Error);
        Assert.Equal(history.Select(h => (InferenceStates.ToApi(h.State), h.At)), status.Message.History.Select(h => (h.Status, h.At)));
        Assert.Equal(state == InferenceStates.Completed ? 14 : state is InferenceStates.Failed or InferenceStates.Canceled ? 0 : ScriptedGate.TokensPerInput,
            status.Message.Usage.TotalTokens);
        await Saga.Harness.InactivityTask;
        Assert.Equal(history, Saga.Saga.Sagas.Contains(id)!.History);
    }

    [Fact]
    public async Task Should_answer_not_found_for_an_unknown_id_or_another_tenants_request()
    {
        var id = NewId.NextGuid();
        await Saga.Submit(id);
        var client = Saga.Harness.GetRequestClient<GetInferenceStatus>();

        var unknown = await client.GetResponse<InferenceStatus, InferenceNotFound>(new GetInferenceStatus { InferenceId = NewId.NextGuid() });
        var foreign = await client.GetResponse<InferenceStatus, InferenceNotFound>(new GetInferenceStatus { InferenceId = id, TenantId = "tenant-b" });

        Assert.True(unknown.Is(out Response<InferenceNotFound>? _));
        Assert.True(foreign.Is(out Response<InferenceNotFound>? notFound));
        Assert.Equal(id, notFound.Message.InferenceId);
    }
}

/// <summary>
/// The sweeper tells the saga of a passed deadline within seconds; a result that lands in between must not complete
/// (and charge) a request its submitter, or the platform, has already given up on.
/// </summary>
public sealed class When_a_result_lands_after_the_deadline : IAsyncLifetime
{
    private readonly Quota.ManualTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly SagaHarness _saga;

    public When_a_result_lands_after_the_deadline() => _saga = new SagaHarness(clock: _clock);

    public Task InitializeAsync() => _saga.InitializeAsync();

    public Task DisposeAsync() => _saga.DisposeAsync();

    [Fact]
    public async Task Should_cancel_with_cancel_after_elapsed_discard_it_and_release_when_the_client_deadline_passed()
    {
        var id = NewId.NextGuid();
        var endpoint = await _saga.Harness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress);
        await endpoint.Send(SagaHarness.Submission(id) with { SubmittedAt = null, CancelAfter = TimeSpan.FromSeconds(5) });
        await _saga.InState(id, _saga.Machine.Submitted);
        await _saga.Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = ScriptedGate.TokensPerInput });
        await _saga.InState(id, _saga.Machine.QuotaReserved);
        _clock.Advance(TimeSpan.FromSeconds(5) + TimeSpan.FromMilliseconds(1));

        await _saga.Harness.Bus.Publish(SagaHarness.Success(id));

        var instance = await _saga.InState(id, _saga.Machine.Canceled);
        Assert.Equal((ErrorCodes.CancelAfterElapsed, 0, 0), (instance.ErrorCode, InferenceStateMachine.Status(instance).Usage.PromptTokens,
            InferenceStateMachine.Status(instance).Usage.CompletionTokens));
        await _saga.SentMessage<ReleaseQuota>(m => m.InferenceId == id);
        await _saga.PublishedMessage<InferenceCanceled>(m => m.InferenceId == id && m.Reason.Code == ErrorCodes.CancelAfterElapsed);
        Assert.True(await _saga.NothingSent<StoreResult>(id, m => m.InferenceId));
        Assert.True(await _saga.NothingSent<SettleQuota>(id, m => m.InferenceId));
        Assert.Equal(1, _saga.Outcomes(id));
    }

    [Fact]
    public async Task Should_fail_with_deadline_exceeded_when_the_stored_result_comes_after_the_platforms_deadline()
    {
        var id = NewId.NextGuid();
        await _saga.Succeed(id);
        var deadline = _saga.Saga.Sagas.Contains(id)!.DeadlineAt;
        _clock.SetUtcNow(deadline + TimeSpan.FromMilliseconds(1));

        await _saga.Harness.Bus.Publish(new ResultStored { InferenceId = id });

        var instance = await _saga.InState(id, _saga.Machine.Failed);
        Assert.Equal(ErrorCodes.DeadlineExceeded, instance.ErrorCode);
        await _saga.SentMessage<ReleaseQuota>(m => m.InferenceId == id);
        await _saga.PublishedMessage<InferenceFailed>(m => m.InferenceId == id && m.Error.Code == ErrorCodes.DeadlineExceeded);
        Assert.True(await _saga.NothingSent<SettleQuota>(id, m => m.InferenceId));
        Assert.Equal(1, _saga.Outcomes(id));
    }

    [Fact]
    public async Task Should_complete_a_request_whose_result_is_stored_at_the_deadline_itself()
    {
        var id = NewId.NextGuid();
        await _saga.Succeed(id);
        _clock.SetUtcNow(_saga.Saga.Sagas.Contains(id)!.DeadlineAt);

        await _saga.Harness.Bus.Publish(new ResultStored { InferenceId = id });

        await _saga.InState(id, _saga.Machine.Completed);
        await _saga.SentMessage<SettleQuota>(m => m.InferenceId == id);
    }
}
