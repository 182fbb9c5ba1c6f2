using Inference.Contracts;
using Inference.Orchestration;

namespace Inference.Testing;

/// <summary>
/// The platform's submission gate, scripted: the tenant must be one the harness knows and enabled, the model one it
/// serves, and every input must hold between 1 and the model's <see cref="ScriptedModel.MaxInputTokens"/> tokens by
/// <see cref="SimpleTokenizer"/>. Refusals carry the platform's codes.
/// </summary>
internal sealed class ScriptedSubmissionGate(InferenceScript script) : ISubmissionGate
{
    public ValueTask<SubmissionDecision> CheckAsync(SubmitInference submission, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Check(submission));

    private SubmissionDecision Check(SubmitInference submission)
    {
        if (script.FindTenant(submission.TenantId) is not { } tenant)
            return SubmissionDecision.Refuse(ErrorCodes.TenantNotFound, $"Tenant '{submission.TenantId}' does not exist.");
        if (tenant.IsDisabled)
            return SubmissionDecision.Refuse(ErrorCodes.TenantDisabled, $"Tenant '{submission.TenantId}' is disabled.");
        if (script.FindModel(submission.Model) is not { } model)
            return SubmissionDecision.Refuse(ErrorCodes.ModelNotFound, $"Model '{submission.Model}' is not served here.");

        var total = 0;
        for (var i = 0; i < submission.Inputs.Count; i++)
        {
            var tokens = SimpleTokenizer.Count(submission.Inputs[i]);
            if (tokens == 0)
                return SubmissionDecision.Refuse(ErrorCodes.InputEmpty, $"Input {i} holds no text that {model.Id} can read.");
            if (tokens > model.MaxInputTokens)
                return SubmissionDecision.Refuse(ErrorCodes.InputTooLong,
                    $"Input {i} has {tokens} tokens; {model.Id} accepts at most {model.MaxInputTokens}.");
            total += tokens;
        }

        script.Admit(submission.InferenceId);
        return SubmissionDecision.Admit(total);
    }
}
