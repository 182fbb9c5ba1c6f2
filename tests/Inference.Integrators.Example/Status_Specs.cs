using Inference.Contracts;
using Inference.Orchestration;
using MassTransit;

namespace Inference.Integrators.Example;

public sealed class When_the_status_is_asked : HarnessSpec
{
    [Fact]
    public async Task Should_show_a_running_request_inferring_with_its_prompt_tokens()
    {
        Harness.Model(Model).Takes(TimeSpan.FromMinutes(5));
        var submission = Submission("Hello, world!");
        await Harness.SendAsync(submission);
        await Harness.WaitForStatusAsync(submission.InferenceId, InferenceStatusNames.Inferring);

        var response = await Harness.GetStatusAsync(submission.InferenceId, Tenant);

        Assert.True(response.Is(out Response<InferenceStatus>? status));
        Assert.Equal((InferenceStatusNames.Inferring, false, 6), (status.Message.Status, status.Message.IsFinal, status.Message.Usage.PromptTokens));
        Assert.Equal([InferenceStatusNames.Submitted, InferenceStatusNames.QuotaReserved, InferenceStatusNames.Inferring],
            status.Message.History.Select(h => h.Status));
        Assert.Equal(Harness.Clock.GetUtcNow(), status.Message.CreatedAt);
    }

    [Fact]
    public async Task Should_show_a_completed_request_with_its_usage()
    {
        var submission = Submission("Hello, world!");
        await Harness.SendAsync(submission);
        await Harness.WaitForOutcomeAsync(submission.InferenceId);

        var response = await Harness.GetStatusAsync(submission.InferenceId);

        Assert.True(response.Is(out Response<InferenceStatus>? status));
        Assert.Equal((InferenceStatusNames.Completed, true, 6, null), (status.Message.Status, status.Message.IsFinal, status.Message.Usage.TotalTokens, status.Message.Error));
    }

    [Fact]
    public async Task Should_show_a_failed_request_with_its_error_and_nothing_charged()
    {
        Harness.Tenant(Tenant).RefuseQuota();
        var submission = Submission();
        await Harness.SendAsync(submission);
        await Harness.WaitForOutcomeAsync(submission.InferenceId);

        var response = await Harness.GetStatusAsync(submission.InferenceId);

        Assert.True(response.Is(out Response<InferenceStatus>? status));
        Assert.Equal((InferenceStatusNames.Failed, ErrorCodes.RateLimitTokens, 0), (status.Message.Status, status.Message.Error!.Code, status.Message.Usage.TotalTokens));
    }

    [Fact]
    public async Task Should_answer_not_found_for_an_unknown_id_or_another_tenants_request()
    {
        var submission = Submission();
        await Harness.SendAsync(submission);
        await Harness.WaitForOutcomeAsync(submission.InferenceId);

        var unknown = await Harness.GetStatusAsync(NewId.NextGuid());
        var foreign = await Harness.GetStatusAsync(submission.InferenceId, tenantId: "someone-else");

        Assert.True(unknown.Is(out Response<InferenceNotFound>? _));
        Assert.True(foreign.Is(out Response<InferenceNotFound>? notFound));
        Assert.Equal(submission.InferenceId, notFound.Message.InferenceId);
    }
}
