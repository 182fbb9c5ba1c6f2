using Inference.Contracts;
using Inference.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Resilience;
using Inference.Server.Tenants;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Api;

/// <summary>
/// <c>POST /v1/inferences/{id}/cancel</c>. The saga decides, as it does for <see cref="CancelInference"/> from the bus: the
/// API checks the tenant's ownership, asks the orchestrator, and answers with the request as the saga left it.
/// </summary>
public static class InferenceCancellation
{
    /// <summary>How long the API waits for the orchestrator's answer before telling the client to try again.</summary>
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(10);

    internal static async Task<Results<Ok<InferenceResponse>, ProblemHttpResult>> CancelAsync(
        string id,
        HttpContext http,
        InferenceDbContext db,
        IRequestClient<CancelInference> orchestrator,
        CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var inferenceId))
            return Problems.InferenceNotFound(id);

        // Another tenant's request is indistinguishable from one that does not exist; a final one needs no round trip.
        var tenantId = http.User.TenantId();
        var saga = await db.Inferences.AsNoTracking()
            .SingleOrDefaultAsync(x => x.CorrelationId == inferenceId && x.TenantId == tenantId, cancellationToken).ConfigureAwait(false);
        if (saga is null)
            return Problems.InferenceNotFound(id);
        if (InferenceStates.IsFinal(saga.CurrentState))
            return Problems.InferenceFinal(inferenceId, InferenceStates.ToApi(saga.CurrentState));

        Response answer;
        try
        {
            // The wait is bounded, the cancel is not: a request client gives its message a time-to-live of its timeout, so
            // behind a backlog on the orchestrator's queue the cancel would expire unseen, however often it was sent again.
            answer = await orchestrator.GetResponse<InferenceStatus, CancelInferenceRejected, InferenceNotFound>(
                new CancelInference { InferenceId = inferenceId, TenantId = tenantId },
                // Cleared on the message itself: the client's own TimeToLive setting also sets its timeout timer.
                request => request.UseExecute(send => send.TimeToLive = null), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is RequestTimeoutException || TransientFailures.Is(exception))
        {
            // Sent but unanswered, the cancel may still happen: the client may read the request or cancel again.
            return Problems.Unavailable(http, "The cancel could not be confirmed right now; read the inference or try again.");
        }

        return answer switch
        {
            (_, CancelInferenceRejected rejected) => Problems.InferenceFinal(inferenceId, rejected.Status.Status),
            (_, InferenceNotFound) => Problems.InferenceNotFound(id),
            _ => await InferencesApi.GetAsync(id, http, db, cancellationToken).ConfigureAwait(false),
        };
    }
}
