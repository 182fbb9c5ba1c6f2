using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Orchestration;
using MassTransit;
using MassTransit.Testing;

namespace Inference.Server.Tests.Orchestration;

public sealed class When_an_inference_is_submitted : SagaSpec
{
    [Fact]
    public async Task Should_be_submitted_and_ask_the_quota_service_for_its_prompt_tokens()
    {
        var id = NewId.NextGuid();

        var instance = await Saga.Submit(id);

        Assert.Equal("Submitted", instance.CurrentState);
        Assert.Equal("tenant-a", instance.TenantId);
        Assert.Equal(["hello world"], instance.Inputs!);
        // Counted by the platform (here the spec's gate), never taken from the submitter.
        Assert.Equal(ScriptedGate.TokensPerInput, instance.ReservedTokens);
        var reserve = Saga.Harness.Sent.Select<ReserveQuota>(x => x.Context.Message.InferenceId == id).Single();
        Assert.Equal(ProtocolEndpoints.Quota, QueueOf(reserve));
        Assert.Equal(("tenant-a", (long)ScriptedGate.TokensPerInput), (reserve.Context.Message.TenantId, reserve.Context.Message.Tokens));
        // The request's concurrency slot frees itself at its deadline, should its release never arrive.
        Assert.NotEqual(default, instance.DeadlineAt);
        Assert.Equal(instance.DeadlineAt, reserve.Context.Message.NotAfter);
        Assert.Equal(["Submitted"], instance.History.Select(h => h.State));
    }

    [Fact]
    public async Task Should_ignore_a_redelivered_submission()
    {
        var id = NewId.NextGuid();
        await Saga.Reserve(id);

        await Saga.Harness.Bus.Publish(SagaHarness.Submission(id, "something else"));

        await Saga.ConsumedMessage<SubmitInference>(m => m.Inputs[0] == "something else");
        await Saga.Harness.InactivityTask;
        var instance = Saga.Saga.Sagas.Contains(id)!;
        Assert.Equal("QuotaReserved", instance.CurrentState);
        Assert.Equal(["hello world"], instance.Inputs!);
        Assert.Single(Saga.Harness.Sent.Select<ReserveQuota>(x => x.Context.Message.InferenceId == id));
    }
}

/// <summary>
/// The bus is an edge like REST: a submission that no store can hold, or that the platform would not run, is answered
/// with the REST error code and never stored, reserved or charged.
/// </summary>
public sealed class When_a_bus_submission_cannot_be_stored : SagaSpec
{
    public static TheoryData<string, Func<SubmitInference, SubmitInference>> Refusals => new()
    {
        { "input_invalid_character", m => m with { Inputs = ["hello", "a NUL \u0000 here"] } },
        { "input_invalid_character", m => m with { Inputs = ["a C1 control \u0085"] } },
        { "input_invalid_character", m => m with { TenantId = "tenant\u0000a" } },
        { "input_invalid_character", m => m with { Model = "all-minilm\u0007" } },
        { "input_empty", m => m with { Inputs = [] } },
        { "input_empty", m => m with { Inputs = ["hello", " "] } },
        { "too_many_inputs", m => m with { Inputs = [.. Enumerable.Repeat("hello", SubmissionRules.MaxInputs + 1)] } },
        { "tenant_required", m => m with { TenantId = "" } },
        { "tenant_invalid", m => m with { TenantId = new string('t', SubmissionRules.MaxTenantIdLength + 1) } },
        { "model_required", m => m with { Model = " " } },
        { "cancel_after_invalid", m => m with { CancelAfter = TimeSpan.FromMilliseconds(999) } },
        { "cancel_after_too_long", m => m with { CancelAfter = TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1) } },
        { "model_not_found", m => m with { Model = ScriptedGate.UnknownModel } },
        { "tenant_not_found", m => m with { TenantId = ScriptedGate.UnknownTenant } },
        { "tenant_disabled", m => m with { TenantId = ScriptedGate.DisabledTenant } },
        { "input_too_long", m => m with { Inputs = ["fine", ScriptedGate.TooLongInput] } },
        { "input_too_long", m => m with { Inputs = ["fine", new string('a', SubmissionRules.MaxInputCharacters + 1)] } },
        { "payload_too_large", m => m with { Inputs = [.. Enumerable.Repeat(new string('a', 5000), SubmissionRules.MaxInputs)] } },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Should_answer_with_the_rest_code_and_store_and_reserve_nothing(string code, Func<SubmitInference, SubmitInference> spoil)
    {
        var id = NewId.NextGuid();
        var client = Saga.Harness.GetRequestClient<SubmitInference>();

        var response = await client.GetResponse<InferenceAccepted, InferenceRejected>(Unescape(spoil(SagaHarness.Submission(id))));

        Assert.True(response.Is(out Response<InferenceRejected>? rejected), $"Expected a rejection, got {response.Message}.");
        Assert.Equal((id, code), (rejected.Message.InferenceId, rejected.Message.Code));
        Assert.False(string.IsNullOrWhiteSpace(rejected.Message.Message));
        Assert.True(await Saga.NothingSent<ReserveQuota>(id, m => m.InferenceId));
        Assert.Null(await Saga.Stored(id));
    }

    [Fact]
    public async Task Should_accept_tabs_line_breaks_and_characters_outside_the_basic_plane()
    {
        var id = NewId.NextGuid();
        var endpoint = await Saga.Harness.Bus.GetSendEndpoint(new Uri($"queue:{InferenceEndpoints.Orchestrator}"));

        await endpoint.Send(SagaHarness.Submission(id, "tab\there", "line\nbreak", "an emoji 😀"));

        Assert.Equal(3, (await Saga.InState(id, Saga.Machine.Submitted)).InputCount);
    }

    /// <summary>Test data holds escapes, so that no control character hides in the source.</summary>
    private static SubmitInference Unescape(SubmitInference message) => message with
    {
        TenantId = System.Text.RegularExpressions.Regex.Unescape(message.TenantId),
        Model = System.Text.RegularExpressions.Regex.Unescape(message.Model),
        Inputs = [.. message.Inputs.Select(System.Text.RegularExpressions.Regex.Unescape)],
    };
}

public sealed class When_the_quota_is_decided : SagaSpec
{
    [Fact]
    public async Task Should_queue_the_inputs_for_a_worker_when_reserved()
    {
        var id = NewId.NextGuid();

        await Saga.Reserve(id);

        var run = Saga.Harness.Sent.Select<RunInference>(x => x.Context.Message.InferenceId == id).Single();
        Assert.Equal(ProtocolEndpoints.WorkerFor("all-minilm-l6-v2"), QueueOf(run));
        Assert.Equal(["hello world"], run.Context.Message.Inputs);
        Assert.Equal("all-minilm-l6-v2", run.Context.Message.Model);
    }

    [Fact]
    public async Task Should_answer_the_submitter_with_accepted_when_reserved()
    {
        var id = NewId.NextGuid();
        var client = Saga.Harness.Bus.CreateRequestClient<SubmitInference>(new Uri($"queue:{InferenceEndpoints.Orchestrator}"));

        var answer = client.GetResponse<InferenceAccepted, InferenceRejected>(SagaHarness.Submission(id));
        await Saga.InState(id, Saga.Machine.Submitted);
        await Saga.Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = 12 });

        var response = await answer;
        Assert.True(response.Is(out Response<InferenceAccepted>? accepted));
        Assert.Equal((id, (long)ScriptedGate.TokensPerInput), (accepted.Message.InferenceId, accepted.Message.ReservedTokens));
        var instance = await Saga.InState(id, Saga.Machine.QuotaReserved);
        Assert.Null(instance.ResponseAddress);
    }

    [Theory]
    [InlineData("rate_limit_tokens", "tokens_per_minute")]
    [InlineData("rate_limit_requests", "requests_per_minute")]
    [InlineData("quota_daily_tokens", "tokens_per_day")]
    [InlineData("quota_monthly_tokens", "tokens_per_month")]
    [InlineData("concurrency_limit", "max_concurrent")]
    public async Task Should_fail_with_the_windows_code_and_answer_the_submitter_the_limit_used_and_requested(string code, string limit)
    {
        var id = NewId.NextGuid();
        var client = Saga.Harness.Bus.CreateRequestClient<SubmitInference>(new Uri($"queue:{InferenceEndpoints.Orchestrator}"));

        var answer = client.GetResponse<InferenceAccepted, InferenceRejected>(SagaHarness.Submission(id));
        await Saga.InState(id, Saga.Machine.Submitted);
        await Saga.Harness.Bus.Publish(new QuotaRejected
        {
            InferenceId = id, Limit = code, LimitValue = 10, Remaining = 3, Used = 7, Requested = 5, RetryAfter = TimeSpan.FromSeconds(17),
        });

        var response = await answer;
        Assert.True(response.Is(out Response<InferenceRejected>? rejected));
        Assert.Equal((code, limit, 10L, 7L, 5L, TimeSpan.FromSeconds(17)),
            (rejected.Message.Code, rejected.Message.Limit, rejected.Message.LimitValue, rejected.Message.Used, rejected.Message.Requested,
                rejected.Message.RetryAfter));
        var instance = await Saga.InState(id, Saga.Machine.Failed);
        Assert.Equal(code, instance.ErrorCode);
        Assert.Contains($"{limit} of 10", instance.ErrorMessage, StringComparison.Ordinal);
        Assert.Null(instance.Inputs);
        Assert.True(await Saga.NothingSent<RunInference>(id, m => m.InferenceId));
        Assert.True(await Saga.NothingSent<ReleaseQuota>(id, m => m.InferenceId));
    }

    [Fact]
    public async Task Should_read_a_refusal_that_names_the_plan_limit_as_that_windows_code()
    {
        // A quota service from before the codes names the limit and leaves Used and Requested out.
        var id = NewId.NextGuid();
        await Saga.Submit(id);

        await Saga.Harness.Bus.Publish(new QuotaRejected
        {
            InferenceId = id, Limit = "tokens_per_day", LimitValue = 10, Remaining = 3, RetryAfter = TimeSpan.FromSeconds(17),
        });

        var instance = await Saga.InState(id, Saga.Machine.Failed);
        Assert.Equal(ErrorCodes.QuotaDailyTokens, instance.ErrorCode);
        Assert.Contains("tokens_per_day of 10 tokens has 7 used", instance.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_fail_and_release_when_the_quota_service_faults()
    {
        var id = NewId.NextGuid();
        await Saga.Submit(id);

        await Saga.Harness.Bus.Publish(SagaHarness.Faulted(new ReserveQuota { InferenceId = id, TenantId = "tenant-a", Tokens = 12 }));

        var instance = await Saga.InState(id, Saga.Machine.Failed);
        Assert.Equal(ErrorCodes.QuotaUnavailable, instance.ErrorCode);
        await Saga.SentMessage<ReleaseQuota>(m => m.InferenceId == id);
        Assert.True(await Saga.NothingSent<RunInference>(id, m => m.InferenceId));
    }
}

public sealed class When_a_worker_runs_the_inference : SagaSpec
{
    [Fact]
    public async Task Should_be_inferring_once_started()
    {
        var id = NewId.NextGuid();

        var instance = await Saga.Start(id);

        Assert.Equal(["Submitted", "QuotaReserved", "Inferring"], instance.History.Select(h => h.State));
    }

    [Fact]
    public async Task Should_store_the_output_and_record_the_usage_when_it_succeeds()
    {
        var id = NewId.NextGuid();

        var instance = await Saga.Succeed(id);

        var store = Saga.Harness.Sent.Select<StoreResult>(x => x.Context.Message.InferenceId == id).Single();
        Assert.Equal(ProtocolEndpoints.Results, QueueOf(store));
        Assert.Equal([0.6f, 0.8f], store.Context.Message.Output.Embeddings![0]);
        Assert.Equal("Inferring", instance.CurrentState);
        Assert.Equal((11, 3), (instance.PromptTokens, instance.CompletionTokens));
    }

    [Fact]
    public async Task Should_accept_a_success_that_overtook_its_start()
    {
        var id = NewId.NextGuid();
        await Saga.Reserve(id);

        await Saga.Harness.Bus.Publish(SagaHarness.Success(id));

        await Saga.SentMessage<StoreResult>(m => m.InferenceId == id);
        await Saga.InState(id, Saga.Machine.Inferring);
        await Saga.Harness.Bus.Publish(new InferenceStarted { InferenceId = id, StartedAt = DateTimeOffset.UtcNow });
        await Saga.ConsumedMessage<InferenceStarted>(m => m.InferenceId == id);
        await Saga.Harness.InactivityTask;
        Assert.Equal("Inferring", Saga.Saga.Sagas.Contains(id)!.CurrentState);
    }

    [Fact]
    public async Task Should_fail_and_release_the_reservation_when_inference_faults()
    {
        var id = NewId.NextGuid();

        var instance = await Saga.Fail(id);

        Assert.Equal(ErrorCodes.InferenceFailed, instance.ErrorCode);
        Assert.Contains("boom", instance.ErrorMessage, StringComparison.Ordinal);
        var release = Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id).Single();
        Assert.Equal(("tenant-a", ProtocolEndpoints.QuotaSettlements), (release.Context.Message.TenantId, QueueOf(release)));
        Assert.True(await Saga.NothingSent<SettleQuota>(id, m => m.InferenceId));
    }

    [Fact]
    public async Task Should_fail_and_release_when_a_fault_arrives_before_the_start()
    {
        var id = NewId.NextGuid();
        await Saga.Reserve(id);

        await Saga.Harness.Bus.Publish(SagaHarness.Faulted(new RunInference { InferenceId = id, Model = "m", Inputs = ["x"] }));

        await Saga.InState(id, Saga.Machine.Failed);
        await Saga.SentMessage<ReleaseQuota>(m => m.InferenceId == id);
    }
}

public sealed class When_the_result_is_stored : SagaSpec
{
    [Fact]
    public async Task Should_complete_settle_with_the_actual_usage_and_forget_the_inputs()
    {
        var id = NewId.NextGuid();

        var instance = await Saga.Complete(id);

        var settle = Saga.Harness.Sent.Select<SettleQuota>(x => x.Context.Message.InferenceId == id).Single();
        Assert.Equal(14, settle.Context.Message.ActualTokens);
        Assert.Equal(ProtocolEndpoints.QuotaSettlements, QueueOf(settle));
        Assert.Null(instance.Inputs);
        Assert.Null(instance.ErrorCode);
        Assert.Equal(["Submitted", "QuotaReserved", "Inferring", "Completed"], instance.History.Select(h => h.State));
        Assert.True(instance.History.Zip(instance.History.Skip(1)).All(pair => pair.First.At <= pair.Second.At));
        Assert.True(await Saga.NothingSent<ReleaseQuota>(id, m => m.InferenceId));
    }

    [Fact]
    public async Task Should_fail_and_release_when_the_result_store_faults()
    {
        var id = NewId.NextGuid();
        await Saga.Succeed(id);

        await Saga.Harness.Bus.Publish(SagaHarness.Faulted(new StoreResult { InferenceId = id, Output = new InferenceOutput() }));

        var instance = await Saga.InState(id, Saga.Machine.Failed);
        Assert.Equal(ErrorCodes.ResultStoreFailed, instance.ErrorCode);
        await Saga.SentMessage<ReleaseQuota>(m => m.InferenceId == id);
        Assert.True(await Saga.NothingSent<SettleQuota>(id, m => m.InferenceId));
    }
}

public sealed class When_messages_arrive_late_or_twice : SagaSpec
{
    [Fact]
    public async Task Should_settle_exactly_once_when_the_result_is_confirmed_twice()
    {
        var id = NewId.NextGuid();
        await Saga.Complete(id);

        await Saga.Harness.Bus.Publish(new ResultStored { InferenceId = id });
        await Saga.Harness.Bus.Publish(SagaHarness.Success(id) with { Usage = new InferenceUsage { PromptTokens = 11, CompletionTokens = 99 } });

        await Saga.ConsumedMessage<InferenceSucceeded>(m => m.InferenceId == id && m.Usage.CompletionTokens == 99);
        await Saga.Harness.InactivityTask;
        Assert.Single(Saga.Harness.Sent.Select<SettleQuota>(x => x.Context.Message.InferenceId == id));
        Assert.Single(Saga.Harness.Sent.Select<StoreResult>(x => x.Context.Message.InferenceId == id));
        var instance = Saga.Saga.Sagas.Contains(id)!;
        Assert.Equal(("Completed", 3), (instance.CurrentState, instance.CompletionTokens));
    }

    [Fact]
    public async Task Should_stay_failed_and_uncharged_when_a_success_follows_a_failure()
    {
        var id = NewId.NextGuid();
        await Saga.Fail(id);

        await Saga.Harness.Bus.Publish(SagaHarness.Success(id));
        await Saga.Harness.Bus.Publish(new ResultStored { InferenceId = id });

        await Saga.Harness.InactivityTask;
        Assert.Equal("Failed", Saga.Saga.Sagas.Contains(id)!.CurrentState);
        Assert.True(await Saga.NothingSent<SettleQuota>(id, m => m.InferenceId));
        Assert.Empty(Saga.Harness.Published.Select<Fault<InferenceSucceeded>>());
    }

    [Fact]
    public async Task Should_release_a_reservation_granted_after_the_request_failed()
    {
        var id = NewId.NextGuid();
        await Saga.Submit(id);
        await Saga.Harness.Bus.Publish(SagaHarness.Faulted(new ReserveQuota { InferenceId = id, TenantId = "tenant-a", Tokens = 12 }));
        await Saga.InState(id, Saga.Machine.Failed);
        var releasesBefore = Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id).Count();

        await Saga.Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = 12 });

        await SagaHarness.Eventually(() =>
            Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id).Count() == releasesBefore + 1);
        Assert.True(await Saga.NothingSent<RunInference>(id, m => m.InferenceId));
        Assert.Equal("Failed", Saga.Saga.Sagas.Contains(id)!.CurrentState);
    }

    [Fact]
    public async Task Should_fault_an_event_for_an_unknown_request_to_the_error_queue()
    {
        var id = NewId.NextGuid();

        await Saga.Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = 1 });

        await Saga.PublishedMessage<Fault<QuotaReserved>>(m => m.Message.InferenceId == id);
        Assert.False(Saga.Saga.Created.Select(x => x.CorrelationId == id).Any());
    }
}

public sealed class The_inference_state_machine : SagaSpec
{
    [Fact]
    public void Should_have_exactly_the_states_of_the_design()
    {
        var states = Saga.Machine.States.Select(s => s.Name).Where(name => name is not ("Initial" or "Final"));

        Assert.Equal(["Canceled", "Completed", "Failed", "Inferring", "QuotaReserved", "Submitted"], states.Order());
    }

    [Fact]
    public void Should_handle_or_ignore_every_event_in_every_state()
    {
        var events = Saga.Machine.Events.Where(e => !e.Name.Contains('.', StringComparison.Ordinal)).Select(e => e.Name).ToHashSet();
        Assert.Equal(13, events.Count);

        foreach (var state in Saga.Machine.States.Where(s => InferenceStates.IsKnownState(s.Name)))
        {
            var handled = Saga.Machine.NextEvents(state).Select(e => e.Name).ToHashSet();
            Assert.True(events.IsSubsetOf(handled), $"{state.Name} leaves {string.Join(", ", events.Except(handled))} unhandled.");
        }
    }
}

/// <summary>
/// A broker redelivers a message whose consumer died before acknowledging it, with the same message id (the harness
/// lists a message once per id, so the specs wait for the bus to go quiet rather than count deliveries). Whatever the
/// first delivery's transition sent was committed with it in the outbox, so a message that already moved the request
/// changes nothing and sends nothing again: each step is queued once.
/// </summary>
public sealed class When_a_message_is_delivered_again : SagaSpec
{
    [Fact]
    public async Task Should_not_ask_for_the_reservation_again_when_the_submission_is_redelivered()
    {
        var id = NewId.NextGuid();
        await Saga.Submit(id);

        await Saga.Redeliver(Saga.Consumed<SubmitInference>(m => m.InferenceId == id));

        await Saga.Harness.InactivityTask;
        Assert.Single(Saga.Harness.Sent.Select<ReserveQuota>(x => x.Context.Message.InferenceId == id));
        Assert.Equal(["Submitted"], Saga.Saga.Sagas.Contains(id)!.History.Select(h => h.State));
    }

    [Fact]
    public async Task Should_not_ask_again_for_a_second_submission_of_the_same_id()
    {
        var id = NewId.NextGuid();
        await Saga.Submit(id);

        await Saga.Harness.Bus.Publish(SagaHarness.Submission(id, "something else"));

        await Saga.ConsumedMessage<SubmitInference>(m => m.Inputs[0] == "something else");
        await Saga.Harness.InactivityTask;
        Assert.Single(Saga.Harness.Sent.Select<ReserveQuota>(x => x.Context.Message.InferenceId == id));
        Assert.Equal(["hello world"], Saga.Saga.Sagas.Contains(id)!.Inputs!);
    }

    [Fact]
    public async Task Should_queue_the_work_once_whether_the_grant_is_redelivered_or_sent_twice()
    {
        var id = NewId.NextGuid();
        await Saga.Reserve(id);
        var grant = Saga.Consumed<QuotaReserved>(m => m.InferenceId == id);

        await Saga.Redeliver(grant);
        await Saga.Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = 12 });

        await Saga.Harness.InactivityTask;
        Assert.Single(Saga.Harness.Sent.Select<RunInference>(x => x.Context.Message.InferenceId == id));
        Assert.Equal(["Submitted", "QuotaReserved"], Saga.Saga.Sagas.Contains(id)!.History.Select(h => h.State));
    }

    [Fact]
    public async Task Should_settle_once_when_the_stored_result_is_redelivered()
    {
        var id = NewId.NextGuid();
        await Saga.Complete(id);

        await Saga.Redeliver(Saga.Consumed<ResultStored>(m => m.InferenceId == id));

        await Saga.Harness.InactivityTask;
        Assert.Equal(14, Assert.Single(Saga.Harness.Sent.Select<SettleQuota>(x => x.Context.Message.InferenceId == id)).Context.Message.ActualTokens);
        Assert.Equal("Completed", Saga.Saga.Sagas.Contains(id)!.CurrentState);
    }

    [Fact]
    public async Task Should_release_once_and_stay_failed_when_the_fault_is_redelivered()
    {
        var id = NewId.NextGuid();
        await Saga.Fail(id);

        await Saga.Redeliver(Saga.Consumed<Fault<RunInference>>(m => m.Message.InferenceId == id));

        await Saga.Harness.InactivityTask;
        Assert.Single(Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id));
        var instance = Saga.Saga.Sagas.Contains(id)!;
        Assert.Equal(("Failed", ErrorCodes.InferenceFailed), (instance.CurrentState, instance.ErrorCode));
        Assert.Equal(["Submitted", "QuotaReserved", "Inferring", "Failed"], instance.History.Select(h => h.State));
    }
}

public sealed class When_a_request_is_resumed : SagaSpec
{
    [Fact]
    public async Task Should_ask_for_the_reservation_again_while_submitted()
    {
        var id = NewId.NextGuid();
        await Saga.Submit(id);

        await Saga.Harness.Bus.Publish(new ResumeInference { InferenceId = id });

        await SagaHarness.Eventually(() => Saga.Harness.Sent.Select<ReserveQuota>(x => x.Context.Message.InferenceId == id).Count() == 2);
        Assert.Equal("Submitted", Saga.Saga.Sagas.Contains(id)!.CurrentState);
    }

    [Fact]
    public async Task Should_queue_the_inputs_again_once_reserved_or_inferring()
    {
        var reserved = NewId.NextGuid();
        var inferring = NewId.NextGuid();
        await Saga.Reserve(reserved);
        await Saga.Start(inferring);

        await Saga.Harness.Bus.Publish(new ResumeInference { InferenceId = reserved });
        await Saga.Harness.Bus.Publish(new ResumeInference { InferenceId = inferring });

        foreach (var id in new[] { reserved, inferring })
        {
            await SagaHarness.Eventually(() => Saga.Harness.Sent.Select<RunInference>(x => x.Context.Message.InferenceId == id)
                .Count(x => x.Context.Message.Inputs.SequenceEqual(["hello world"])) == 2);
        }

        // To the model's own queue, as the first time.
        Assert.All(Saga.Harness.Sent.Select<RunInference>(x => x.Context.Message.InferenceId == reserved || x.Context.Message.InferenceId == inferring),
            run => Assert.Equal(ProtocolEndpoints.WorkerFor("all-minilm-l6-v2"), QueueOf(run)));
        Assert.Equal(("QuotaReserved", "Inferring"),
            (Saga.Saga.Sagas.Contains(reserved)!.CurrentState, Saga.Saga.Sagas.Contains(inferring)!.CurrentState));
    }

    [Fact]
    public async Task Should_do_nothing_once_ended()
    {
        var id = NewId.NextGuid();
        await Saga.Complete(id);

        await Saga.Harness.Bus.Publish(new ResumeInference { InferenceId = id });

        await Saga.ConsumedMessage<ResumeInference>(m => m.InferenceId == id);
        await Saga.Harness.InactivityTask;
        Assert.Single(Saga.Harness.Sent.Select<RunInference>(x => x.Context.Message.InferenceId == id));
        Assert.Single(Saga.Harness.Sent.Select<SettleQuota>(x => x.Context.Message.InferenceId == id));
        Assert.Equal("Completed", Saga.Saga.Sagas.Contains(id)!.CurrentState);
    }
}

public sealed class When_the_deadline_passes : SagaSpec
{
    [Fact]
    public async Task Should_store_the_deadline_and_give_it_to_the_worker()
    {
        var id = NewId.NextGuid();

        var instance = await Saga.Reserve(id);

        Assert.Equal(instance.CreatedAt + new OrchestrationOptions().RequestDeadline, instance.DeadlineAt);
        var run = Saga.Harness.Sent.Select<RunInference>(x => x.Context.Message.InferenceId == id).Single();
        Assert.Equal(instance.DeadlineAt, run.Context.Message.NotAfter);
    }

    [Theory]
    [InlineData("Submitted")]
    [InlineData("QuotaReserved")]
    [InlineData("Inferring")]
    public async Task Should_fail_with_deadline_exceeded_and_release_the_quota_if_unfinished(string state)
    {
        var id = NewId.NextGuid();
        var instance = state switch
        {
            "Submitted" => await Saga.Submit(id),
            "QuotaReserved" => await Saga.Reserve(id),
            _ => await Saga.Start(id),
        };

        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });

        instance = await Saga.InState(id, Saga.Machine.Failed);
        Assert.Equal(ErrorCodes.DeadlineExceeded, instance.ErrorCode);
        Assert.Contains(instance.DeadlineAt.ToString("O"), instance.ErrorMessage, StringComparison.Ordinal);
        Assert.Null(instance.Inputs);
        await Saga.SentMessage<ReleaseQuota>(m => m.InferenceId == id && m.TenantId == "tenant-a");
        Assert.True(await Saga.NothingSent<SettleQuota>(id, m => m.InferenceId));
    }

    [Fact]
    public async Task Should_answer_a_submitter_still_waiting_for_the_quota_decision()
    {
        var id = NewId.NextGuid();
        var client = Saga.Harness.Bus.CreateRequestClient<SubmitInference>(new Uri($"queue:{InferenceEndpoints.Orchestrator}"));
        var answer = client.GetResponse<InferenceAccepted, InferenceRejected>(SagaHarness.Submission(id));
        var instance = await Saga.InState(id, Saga.Machine.Submitted);

        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });

        var response = await answer;
        Assert.True(response.Is(out Response<InferenceRejected>? rejected));
        Assert.Equal(ErrorCodes.DeadlineExceeded, rejected.Message.Code);
    }

    [Fact]
    public async Task Should_keep_a_completed_request_completed_and_charged()
    {
        var id = NewId.NextGuid();
        var instance = await Saga.Complete(id);

        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });

        await Saga.ConsumedMessage<InferenceDeadlineReached>(m => m.InferenceId == id);
        Assert.True(await Saga.NothingSent<ReleaseQuota>(id, m => m.InferenceId));
        Assert.Equal(("Completed", null), (Saga.Saga.Sagas.Contains(id)!.CurrentState, Saga.Saga.Sagas.Contains(id)!.ErrorCode));
    }

    [Fact]
    public async Task Should_release_a_reservation_that_faulted_after_the_deadline_failed_the_request()
    {
        // The ledger may count a reservation and still fault (Redis answered, the reply was lost): a Release sent when
        // the deadline failed the request found nothing yet, so this one must go out.
        var id = NewId.NextGuid();
        var instance = await Saga.Submit(id);
        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });
        await Saga.InState(id, Saga.Machine.Failed);

        await Saga.Harness.Bus.Publish(SagaHarness.Faulted(new ReserveQuota { InferenceId = id, TenantId = "tenant-a", Tokens = 12 }));

        await SagaHarness.Eventually(() => Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id).Count() == 2);
        Assert.Equal(ErrorCodes.DeadlineExceeded, Saga.Saga.Sagas.Contains(id)!.ErrorCode);
    }

    [Fact]
    public async Task Should_release_a_reservation_that_lands_after_the_deadline_failed_the_request()
    {
        var id = NewId.NextGuid();
        var instance = await Saga.Submit(id);
        await Saga.Harness.Bus.Publish(new InferenceDeadlineReached { InferenceId = id, Deadline = instance.DeadlineAt });
        await Saga.InState(id, Saga.Machine.Failed);

        await Saga.Harness.Bus.Publish(new QuotaReserved { InferenceId = id, Tokens = 12 });

        await SagaHarness.Eventually(() => Saga.Harness.Sent.Select<ReleaseQuota>(x => x.Context.Message.InferenceId == id).Count() == 2);
        Assert.True(await Saga.NothingSent<RunInference>(id, m => m.InferenceId));
    }
}
