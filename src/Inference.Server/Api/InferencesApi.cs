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
            .WithTags("Inferences");

        group.MapPost("/", CreateAsync)
            .WithName("CreateInference")
            .Accepts<CreateInferenceRequest>("application/json");
        group.MapGet("/", InferenceListing.ListAsync)
            .WithName("ListInferences")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .AddOpenApiOperationTransformer(InferenceListing.DescribeParametersAsync);
        group.MapGet("/{id}", GetAsync)
            .WithName("GetInference");
        group.MapPost("/{id}/cancel", InferenceCancellation.CancelAsync)
            .WithName("CancelInference");

        return group;
    }

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
            var errors = validation.Errors.Select(e => new FieldError(e.PropertyName.ToLowerInvariant(), e.ErrorCode, e.ErrorMessage)).ToList();
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
                request.WebhookUrl() is { } webhook ? (webhook, request.WebhookEvents()) : null).ConfigureAwait(false);
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

        // Only a request with a webhook reads its deliveries.
        var response = InferenceView.WithOutput(InferenceView.Item(saga), output);
        if (saga.Webhook is not null)
        {
            var delivery = await db.WebhookDeliveries.AsNoTracking().Where(x => x.InferenceId == inferenceId)
                .OrderByDescending(x => x.CreatedAt).ThenByDescending(x => x.Id).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
            response = response with { Webhook = Webhooks.WebhookStatusResponse.From(delivery) };
        }

        return TypedResults.Ok(response);
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
