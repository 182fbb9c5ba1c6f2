using Inference.Contracts;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Orchestration;

/// <summary>
/// Admits bus submissions as the API admits its own: the tenant is read from the database (in the saga's transaction),
/// the model comes from the engine's catalogue, and the tokens are counted by its tokenizer. A text-generation model takes one
/// input and its parameters in range (<see cref="ModelTasks"/>), and is reserved for its prompt and its <c>max_tokens</c>.
/// </summary>
public sealed class PlatformSubmissionGate(InferenceDbContext db, IServedModels models, Tenants.TenantPlans plans) : ISubmissionGate
{
    public async ValueTask<SubmissionDecision> CheckAsync(SubmitInference submission, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var tenant = await db.Tenants.AsNoTracking().Where(x => x.Id == submission.TenantId)
            .Select(x => new { x.DisabledAt }).SingleOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (tenant is null)
            return SubmissionDecision.Refuse(ErrorCodes.TenantNotFound, $"Tenant '{submission.TenantId}' does not exist.");
        if (tenant.DisabledAt is not null)
            return SubmissionDecision.Refuse(ErrorCodes.TenantDisabled, $"Tenant '{submission.TenantId}' is disabled.");

        if (!models.TryGet(submission.Model, out var model))
            return SubmissionDecision.Refuse(ErrorCodes.ModelNotFound, $"Model '{submission.Model}' is not served here.");

        var tokens = model.CountTokens(submission.Inputs);
        if (InputTokens.Problems(model, tokens) is [var first, ..])
            return SubmissionDecision.Refuse(first.Code, first.Message);

        var (parameters, refusal) = ModelTasks.Admit(model, submission.Inputs.Count, submission.Parameters, "Parameters");
        if (refusal is not null)
            return SubmissionDecision.Refuse(refusal.Code, refusal.Message);

        // A generation may use all of its max_tokens, and is reserved for them: the plan must hold them too.
        var plan = await plans.GetAsync(submission.TenantId, cancellationToken).ConfigureAwait(false);
        if (Api.PlanLimits.Exceeded(plan, submission.Inputs.Count, tokens.Total + (long)(parameters?.MaxTokens ?? 0)) is { } exceeded)
        {
            var detail = Api.PlanLimits.Problem(exceeded).ProblemDetails.Detail!;
            return SubmissionDecision.Refuse(ErrorCodes.RequestExceedsPlan, detail);
        }

        return parameters is null ? SubmissionDecision.Admit(tokens.Total) : SubmissionDecision.Admit(tokens.Total, parameters);
    }
}
