using Inference.Contracts;
using Inference.Orchestration;

namespace Inference.Server.Tests.Orchestration;

/// <summary>
/// The saga's gate for specs without a database or models: every input is <see cref="TokensPerInput"/> tokens;
/// <see cref="UnknownModel"/>, <see cref="UnknownTenant"/> and <see cref="DisabledTenant"/> are refused with the platform's
/// codes, and an input of <see cref="TooLongInput"/> is too long.
/// </summary>
public sealed class ScriptedGate : ISubmissionGate
{
    public const int TokensPerInput = 6;
    public const string UnknownModel = "no-such-model";
    public const string UnknownTenant = "no-such-tenant";
    public const string DisabledTenant = "disabled-tenant";
    public const string TooLongInput = "too long";

    public ValueTask<SubmissionDecision> CheckAsync(SubmitInference submission, CancellationToken cancellationToken) =>
        ValueTask.FromResult(submission switch
        {
            { TenantId: UnknownTenant } => SubmissionDecision.Refuse(ErrorCodes.TenantNotFound, "No such tenant."),
            { TenantId: DisabledTenant } => SubmissionDecision.Refuse(ErrorCodes.TenantDisabled, "Disabled."),
            { Model: UnknownModel } => SubmissionDecision.Refuse("model_not_found", "No such model."),
            _ when submission.Inputs.Contains(TooLongInput) => SubmissionDecision.Refuse("input_too_long", "Too long."),
            _ => SubmissionDecision.Admit(TokensPerInput * submission.Inputs.Count),
        });
}
