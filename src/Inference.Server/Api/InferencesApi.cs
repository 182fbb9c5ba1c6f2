using FluentValidation;
using Inference.Contracts;
using Inference.Engine;
using Inference.Orchestration;
using Inference.Server.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Resilience;
using Inference.Server.Results;
using Inference.Server.Tenants;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>The <c>/v1/inferences</c> resource: submit a request, read its state, list the tenant's requests.</summary>
public static class InferencesApi
{
    public static RouteGroupBuilder MapInferencesApiV1(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/inferences").RequireAuthorization().RequireRateLimiting(ApiExtensions.ConcurrencyPolicy)
            .WithTags("Inferences")
            .ProducesProblems(StatusCodes.Status401Unauthorized, StatusCodes.Status503ServiceUnavailable);

        group.MapPost("/", CreateAsync)
            .WithName("CreateInference")
            .Accepts<CreateInferenceRequest>("application/json")
            .WithDocs("Submit an inference",
                "Validates the request, counts its tokens with the model's tokenizer, stores it and answers `202` with its id and " +
                "URLs; the quota is then reserved and a worker runs the model. Within `Api:QuotaDecisionTimeout` a quota refusal " +
                "is answered here, `429 quota_exceeded`. At most `Api:MaxInputsPerRequest` (128) inputs, each within the " +
                "model's token limit (`input_too_long` names the input), and a body of at most `Api:MaxRequestBodyBytes` " +
                "(1 MiB, else `413 payload_too_large`). Nothing is stored or reserved for a `4xx`.")
            .WithRequestHeader(CancelAfterHeader.Name,
                "The client's own deadline: `30s`, `5m`, `1h30m` or plain seconds, at least 1 second and at most the server's " +
                "`Orchestration:RequestDeadline`. When it passes, the request is canceled with `cancel_after_elapsed`. " +
                "Malformed: `400 cancel_after_invalid`; too long: `400 cancel_after_too_long`.")
            .WithResponseHeader(StatusCodes.Status202Accepted, "Location", "The request's URL, `/v1/inferences/{id}`.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status408RequestTimeout, StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status429TooManyRequests);
        group.MapGet("/", InferenceListing.ListAsync)
            .WithName("ListInferences")
            .WithDocs("List inferences",
                "The tenant's requests, newest first, without their outputs, a page at a time: pass `next_cursor` back as " +
                "`cursor` for the next page. Filter by `status` and `model`. A bad parameter is `400` with `limit_invalid`, " +
                "`status_invalid`, `model_invalid` or `cursor_invalid`.")
            .ProducesProblems(StatusCodes.Status400BadRequest)
            .AddOpenApiOperationTransformer(InferenceListing.DescribeParametersAsync);
        group.MapGet("/{id}", GetAsync)
            .WithName("GetInference")
            .WithDocs("Read an inference",
                "The request's status, timestamps, history of states, usage, error and, once completed, its output. " +
                "Another tenant's request, or an id that is not one, is `404 inference_not_found`.")
            .WithParameterDocs("id", IdDescription)
            .ProducesProblems(StatusCodes.Status404NotFound);
        group.MapPost("/{id}/cancel", InferenceCancellation.CancelAsync)
            .WithName("CancelInference")
            .WithDocs("Cancel an inference",
                "Cancels a request that has not ended: its reservation is released in full, nothing is charged, and a " +
                "running model stops. Answers the request as canceled. One that has already ended is `409 inference_final`, " +
                "and nothing changes; `503` when the orchestrator could not confirm in time (read it, or cancel again).")
            .WithParameterDocs("id", IdDescription)
            .ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);

        return group;
    }

    private const string IdDescription = "The request's id, as `POST /v1/inferences` answered it.";

    internal static async Task<Results<Accepted<InferenceAcceptedResponse>, ProblemHttpResult>> CreateAsync(
        HttpRequest http,
        IValidator<CreateInferenceRequest> validator,
        ModelCatalog models,
        InferenceSubmissions submissions,
        IOptions<ApiOptions> options,
        IOptions<OrchestrationOptions> orchestration,
        IOptions<JsonOptions> json,
        CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonRequestBody.ReadAsync<CreateInferenceRequest>(
            http, options.Value.MaxRequestBodyBytes, json.Value.SerializerOptions, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
            return problem;
        if (request is null)
            return Problems.InvalidJson("The body must be a JSON object.");

        var validation = await validator.ValidateAsync(request, cancellationToken).ConfigureAwait(false);
        if (!validation.IsValid)
        {
            // A metadata key is the client's own and keeps its case: "metadata.CustomerId".
            var errors = validation.Errors.Select(e => new FieldError(
                e.PropertyName.StartsWith("metadata.", StringComparison.Ordinal) ? e.PropertyName : e.PropertyName.ToLowerInvariant(),
                e.ErrorCode, e.ErrorMessage)).ToList();
            return Problems.Validation(errors[0].Code, errors[0].Message, errors);
        }

        models.TryGet(request.Model!, out var model);
        var inputs = request.Inputs();
        var tokens = model!.CountTokens(inputs);
        if (InputTokens.Problems(model, tokens) is [var first, ..] problems)
        {
            // The validator sees only strings; the tokenizer also knows which inputs (zero-width or control characters,
            // lone accents) leave the model nothing to read, and those are as empty as "" to the client.
            return Problems.Validation(first.Code, first.Message,
                [.. problems.Select(p => new FieldError($"input[{p.Index}]", p.Code, p.Message))]);
        }

        var (cancelAfter, cancelAfterProblem) = CancelAfterHeader.Read(http, orchestration.Value.RequestDeadline);
        if (cancelAfterProblem is not null)
            return cancelAfterProblem;

        var message = new SubmitInference
        {
            InferenceId = NewId.NextGuid(),
            TenantId = http.HttpContext.User.TenantId(),
            Model = model.Descriptor.Id,
            Inputs = inputs,
            CancelAfter = cancelAfter,
        };

        SubmissionOutcome outcome;
        try
        {
            // The request is stored before anything is answered: a 202 is never followed by a 404. The wait for the
            // quota decision lets a rejection be answered on this call.
            outcome = await submissions.SubmitAsync(message, tokens.Total, options.Value.QuotaDecisionTimeout, cancellationToken,
                InferenceMetadata.From(request.MetadataEntries())).ConfigureAwait(false);
        }
        catch (Exception exception) when (TransientFailures.Is(exception))
        {
            // Not stored, so not accepted: the client may send it again once the database is back.
            return Problems.Unavailable(http.HttpContext, "The request could not be stored right now; nothing was accepted.");
        }

        var (stored, decision) = outcome;
        if (decision is InferenceRejected rejected)
            return Rejected(http, rejected);

        var status = InferenceStates.ToApi(decision is InferenceAccepted ? InferenceStates.QuotaReserved : InferenceStates.Submitted);
        var location = $"/v1/inferences/{message.InferenceId}";
        return TypedResults.Accepted(location, new InferenceAcceptedResponse(
            message.InferenceId, status, message.Model, stored.CreatedAt,
            new ReservedUsageResponse(tokens.Total), new InferenceUrlsResponse(location, $"{location}/cancel")));
    }

    internal static async Task<Results<Ok<InferenceResponse>, ProblemHttpResult>> GetAsync(
        string id,
        HttpContext http,
        InferenceDbContext db,
        CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(id, out var inferenceId))
            return Problems.InferenceNotFound(id);

        // Another tenant's request is indistinguishable from one that does not exist.
        var tenantId = http.User.TenantId();
        var saga = await db.Inferences.AsNoTracking()
            .SingleOrDefaultAsync(x => x.CorrelationId == inferenceId && x.TenantId == tenantId, cancellationToken)
            .ConfigureAwait(false);
        if (saga is null)
            return Problems.InferenceNotFound(id);

        OutputResponse? output = null;
        if (saga.CurrentState == InferenceStates.Completed)
        {
            var result = await db.Results.AsNoTracking().SingleOrDefaultAsync(x => x.InferenceId == inferenceId, cancellationToken)
                .ConfigureAwait(false);
            if (result?.Embeddings is { } embeddings)
                output = new OutputResponse(EmbeddingEncoding.Decode(embeddings, result.Dimensions));
        }

        return TypedResults.Ok(InferenceView.WithOutput(InferenceView.Item(saga), output));
    }

    private static ProblemHttpResult Rejected(HttpRequest http, InferenceRejected rejected)
    {
        if (rejected.Code != ErrorCodes.QuotaExceeded)
            return Problems.Failed(rejected.Code, rejected.Message, rejected.InferenceId);

        if (rejected.RetryAfter is { } retryAfter)
            http.HttpContext.Response.Headers.RetryAfter = ((long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problems.QuotaExceeded(rejected.Message, rejected.Limit, rejected.InferenceId);
    }
}
