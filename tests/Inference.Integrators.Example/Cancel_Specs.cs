using Inference.Contracts;
using Inference.Orchestration;
using MassTransit;

namespace Inference.Integrators.Example;

public sealed class When_a_request_is_canceled : HarnessSpec
{
    [Fact]
    public async Task Should_stop_the_run_answer_canceled_publish_it_once_and_charge_nothing()
    {
        Harness.Model(Model).Takes(TimeSpan.FromMinutes(5));
        var submission = Submission();
        await Harness.SendAsync(submission);
        await Harness.WaitForStatusAsync(submission.InferenceId, InferenceStatusNames.Inferring);

        var response = await Harness.CancelAsync(submission.InferenceId, Tenant);

        Assert.True(response.Is(out Response<InferenceStatus>? status));
        Assert.Equal((InferenceStatusNames.Canceled, true, ErrorCodes.Canceled), (status.Message.Status, status.Message.IsFinal, status.Message.Error!.Code));
        var outcome = await SingleOutcome(submission.InferenceId);
        Assert.Equal((InferenceStatusNames.Canceled, ErrorCodes.Canceled), (outcome.Status, outcome.Code));
        Assert.Equal((0, 0), (Harness.ChargedTokens(Tenant), Harness.HeldTokens(Tenant)));
        Assert.Null(Harness.StoredResult(submission.InferenceId));
    }

    [Fact]
    public async Task Should_refuse_with_inference_final_once_the_request_has_ended()
    {
        var submission = Submission();
        await Harness.SendAsync(submission);
        await Harness.WaitForOutcomeAsync(submission.InferenceId);

        var response = await Harness.CancelAsync(submission.InferenceId);

        Assert.True(response.Is(out Response<CancelInferenceRejected>? rejected));
        Assert.Equal((ErrorCodes.InferenceFinal, InferenceStatusNames.Completed), (rejected.Message.Code, rejected.Message.Status.Status));
        Assert.Equal(InferenceStatusNames.Completed, (await SingleOutcome(submission.InferenceId)).Status);
    }

    [Fact]
    public async Task Should_answer_not_found_for_an_unknown_id()
    {
        var response = await Harness.CancelAsync(NewId.NextGuid());

        Assert.True(response.Is(out Response<InferenceNotFound>? _));
    }
}

public sealed class When_a_deadline_passes : HarnessSpec
{
    public When_a_deadline_passes()
        : base(options => options.RequestDeadline = TimeSpan.FromMinutes(2))
    {
    }

    [Fact]
    public async Task Should_cancel_with_cancel_after_elapsed_when_the_submitters_deadline_passes()
    {
        Harness.Model(Model).Takes(TimeSpan.FromMinutes(5));
        var submission = Submission() with { CancelAfter = TimeSpan.FromSeconds(30) };
        await Harness.SendAsync(submission);
        await Harness.WaitForStatusAsync(submission.InferenceId, InferenceStatusNames.Inferring);

        Assert.Empty(await Harness.AdvanceAsync(TimeSpan.FromSeconds(29)));
        var expired = await Harness.AdvanceAsync(TimeSpan.FromSeconds(1));

        Assert.Equal([submission.InferenceId], expired);
        var outcome = await SingleOutcome(submission.InferenceId);
        Assert.Equal((InferenceStatusNames.Canceled, ErrorCodes.CancelAfterElapsed), (outcome.Status, outcome.Code));
        Assert.Equal(0, Harness.HeldTokens(Tenant));
    }

    [Fact]
    public async Task Should_fail_with_deadline_exceeded_when_the_platforms_deadline_passes()
    {
        Harness.Model(Model).Takes(TimeSpan.FromMinutes(5));
        var submission = Submission();
        await Harness.SendAsync(submission);
        await Harness.WaitForStatusAsync(submission.InferenceId, InferenceStatusNames.Inferring);

        var expired = await Harness.AdvanceAsync(TimeSpan.FromMinutes(2));

        Assert.Equal([submission.InferenceId], expired);
        var outcome = await SingleOutcome(submission.InferenceId);
        Assert.Equal((InferenceStatusNames.Failed, ErrorCodes.DeadlineExceeded), (outcome.Status, outcome.Code));
        Assert.Equal(0, Harness.HeldTokens(Tenant));
    }

    [Fact]
    public async Task Should_refuse_a_cancel_after_longer_than_the_platforms_deadline()
    {
        var submission = Submission() with { CancelAfter = TimeSpan.FromMinutes(3) };

        var response = await Harness.SubmitAsync(submission);

        Assert.True(response.Is(out Response<InferenceRejected>? rejected));
        Assert.Equal(ErrorCodes.CancelAfterTooLong, rejected.Message.Code);
    }

    [Fact]
    public async Task Should_leave_finished_requests_alone()
    {
        var submission = Submission();
        await Harness.SendAsync(submission);
        await Harness.WaitForOutcomeAsync(submission.InferenceId);

        Assert.Empty(await Harness.AdvanceAsync(TimeSpan.FromHours(1)));
        Assert.Equal(InferenceStatusNames.Completed, (await SingleOutcome(submission.InferenceId)).Status);
    }
}
