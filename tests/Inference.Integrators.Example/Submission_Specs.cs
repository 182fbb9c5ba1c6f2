using Inference.Contracts;
using Inference.Orchestration;
using Inference.Testing;
using MassTransit;

namespace Inference.Integrators.Example;

public sealed class When_a_request_is_submitted : HarnessSpec
{
    [Fact]
    public async Task Should_complete_with_fake_embeddings_and_charge_the_counted_tokens()
    {
        var submission = Submission("Hello, world!", "A man is playing a guitar.");

        var response = await Harness.SubmitAsync(submission);

        Assert.True(response.Is(out Response<InferenceAccepted>? accepted));
        Assert.Equal(6 + 9, accepted.Message.ReservedTokens);
        var outcome = await Harness.WaitForOutcomeAsync(submission.InferenceId);
        var completed = Assert.IsType<InferenceCompleted>(outcome.Completed);
        Assert.Equal((Tenant, Model, 15, 0), (completed.TenantId, completed.Model, completed.Usage.PromptTokens, completed.Usage.CompletionTokens));
        Assert.Equal([FakeEmbeddings.For("Hello, world!"), FakeEmbeddings.For("A man is playing a guitar.")], completed.Output.Embeddings!);
        Assert.All(completed.Output.Embeddings!, e => Assert.Equal(1f, MathF.Sqrt(e.Sum(x => x * x)), 4));
        Assert.Equal(InferenceStatusNames.Completed, (await SingleOutcome(submission.InferenceId)).Status);
        Assert.Equal(15, Harness.ChargedTokens(Tenant));
        Assert.Equal(0, Harness.HeldTokens(Tenant));
    }

    [Fact]
    public async Task Should_complete_with_the_outputs_the_test_scripted()
    {
        Harness.Model(Model).Returns([1f, 0f], [0f, 1f]);
        var submission = Submission("first", "second");

        await Harness.SendAsync(submission);

        var outcome = await Harness.WaitForOutcomeAsync(submission.InferenceId);
        Assert.Equal([[1f, 0f], [0f, 1f]], outcome.Completed!.Output.Embeddings!);
        Assert.Equal(outcome.Completed.Output.Embeddings, Harness.StoredResult(submission.InferenceId)!.Embeddings);
    }

    [Fact]
    public async Task Should_fail_with_the_windows_code_and_answer_the_limit_when_the_quota_refuses()
    {
        Harness.Tenant(Tenant).RefuseQuota(retryAfter: TimeSpan.FromSeconds(20), limit: ErrorCodes.QuotaDailyTokens, limitTokens: 1000);
        var submission = Submission();

        var response = await Harness.SubmitAsync(submission);

        Assert.True(response.Is(out Response<InferenceRejected>? rejected));
        Assert.Equal((ErrorCodes.QuotaDailyTokens, "tokens_per_day", 1000L, TimeSpan.FromSeconds(20)),
            (rejected.Message.Code, rejected.Message.Limit, rejected.Message.LimitValue, rejected.Message.RetryAfter));
        var outcome = await SingleOutcome(submission.InferenceId);
        Assert.Equal((InferenceStatusNames.Failed, ErrorCodes.QuotaDailyTokens), (outcome.Status, outcome.Code));
        Assert.Equal(0, Harness.Model(Model).Runs);
        Assert.Equal(0, Harness.ChargedTokens(Tenant));
    }

    [Fact]
    public async Task Should_fail_with_inference_failed_and_release_the_quota_when_the_model_fails()
    {
        Harness.Model(Model).Fails("CUDA out of memory");
        var submission = Submission();

        await Harness.SendAsync(submission);

        var outcome = await Harness.WaitForOutcomeAsync(submission.InferenceId);
        Assert.Equal(ErrorCodes.InferenceFailed, outcome.Code);
        Assert.Contains("CUDA out of memory", outcome.Failed!.Error.Message, StringComparison.Ordinal);
        await SingleOutcome(submission.InferenceId);
        Assert.Equal((0, 0), (Harness.ChargedTokens(Tenant), Harness.HeldTokens(Tenant)));
        Assert.Null(Harness.StoredResult(submission.InferenceId));
    }

    [Fact]
    public async Task Should_publish_one_outcome_when_the_same_submission_is_sent_twice()
    {
        var submission = Submission();

        await Harness.SendAsync(submission);
        await Harness.WaitForOutcomeAsync(submission.InferenceId);
        await Harness.SendAsync(submission);

        Assert.Equal(InferenceStatusNames.Completed, (await SingleOutcome(submission.InferenceId)).Status);
        Assert.Equal(1, Harness.Model(Model).Runs);
    }
}

public sealed class When_a_submission_is_refused_at_the_door : HarnessSpec
{
    public static TheoryData<string, string> Refusals => new()
    {
        { "unknown model", ErrorCodes.ModelNotFound },
        { "empty input", ErrorCodes.InputEmpty },
        { "input too long", ErrorCodes.InputTooLong },
        { "unknown tenant", ErrorCodes.TenantNotFound },
        { "disabled tenant", ErrorCodes.TenantDisabled },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Should_answer_rejected_with_the_rest_code_and_publish_failed_once(string refusal, string code)
    {
        var submission = Refused(refusal);

        var response = await Harness.SubmitAsync(submission);

        Assert.True(response.Is(out Response<InferenceRejected>? rejected));
        Assert.Equal((submission.InferenceId, code), (rejected.Message.InferenceId, rejected.Message.Code));
        var outcome = await SingleOutcome(submission.InferenceId);
        Assert.Equal((InferenceStatusNames.Failed, code), (outcome.Status, outcome.Code));
        Assert.True((await Harness.GetStatusAsync(submission.InferenceId)).Is(out Response<InferenceNotFound>? _), "nothing is stored");
    }

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Should_publish_failed_with_the_rest_code_when_sent_as_a_command(string refusal, string code)
    {
        var submission = Refused(refusal);

        await Harness.SendAsync(submission);

        var outcome = await Harness.WaitForOutcomeAsync(submission.InferenceId);
        Assert.Equal(code, outcome.Failed!.Error.Code);
        await SingleOutcome(submission.InferenceId);
    }

    private SubmitInference Refused(string refusal)
    {
        Harness.Tenant("frozen").Disable();
        return refusal switch
        {
            "unknown model" => Submission() with { Model = "gpt-7" },
            // A zero-width space passes the text rule but leaves the tokenizer nothing.
            "empty input" => Submission("\u200B"),
            "input too long" => Submission(string.Join(' ', Enumerable.Repeat("word", 300))),
            "unknown tenant" => Submission() with { TenantId = "nobody" },
            "disabled tenant" => Submission() with { TenantId = "frozen" },
            _ => throw new ArgumentOutOfRangeException(nameof(refusal), refusal, null),
        };
    }
}
