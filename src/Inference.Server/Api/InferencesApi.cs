using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FluentValidation;
using Inference.Contracts;
using Inference.Orchestration;
using Inference.Server.Idempotency;
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
                "is answered here: `429` with the plan window's code (`rate_limit_tokens`, `quota_daily_tokens`, ...); a request no window could ever admit is `400 request_exceeds_plan`. At most `Api:MaxInputsPerRequest` (128) inputs, each within the " +
                "model's token limit (`input_too_long` names the input), and a body of at most `Api:MaxRequestBodyBytes` " +
                "(1 MiB, else `413 payload_too_large`). Nothing is stored or reserved for a `4xx`.")
            .WithRequestHeader(CancelAfterHeader.Name,
                "The client's own deadline: `30s`, `5m`, `1h30m` or plain seconds, at least 1 second and at most the server's " +
                "`Orchestration:RequestDeadline`. When it passes, the request is canceled with `cancel_after_elapsed`. " +
                "Malformed: `400 cancel_after_invalid`; too long: `400 cancel_after_too_long`.")
            .WithResponseHeader(StatusCodes.Status202Accepted, "Location", "The request's URL, `/v1/inferences/{id}`.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status408RequestTimeout, StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status429TooManyRequests)
            .WithRequestHeader(PreferWaitHeader.Name,
                "`wait` or `wait=N` (N 1 to 60): answer `200` with the final state if the request ends within N seconds, else the " +
                "usual `202`; `Preference-Applied` says so. A wait the server does not honour is ignored.")
            .WithRequestHeader(IdempotencyKeys.HeaderName,
                "1 to 255 printable ASCII characters naming this submission for 24 hours: the same key again answers with the " +
                "same request (`Idempotent-Replayed: true`), a different submission under it is `422 idempotency_key_reused`.")
            .WithResponseHeader(StatusCodes.Status200OK, PreferWaitHeader.AppliedName, "`wait=N` when the submission waited.")
            .Produces<InferenceResponse>(StatusCodes.Status200OK)
            .ProducesProblems(StatusCodes.Status422UnprocessableEntity)
            .DisableRateLimiting(); // It takes its slot of ApiConcurrency itself, and gives it back to wait.
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
        group.MapGet("/{id}/events", InferenceEvents.StreamAsync)
            .WithName("StreamInferenceEvents")
            .WithDocs("Stream an inference's events",
                "A `text/event-stream` of the request's state changes from the current one on: an event `status` per state, " +
                "whose data is the request as `GET` shows it (with its output in the final event), ending after the final " +
                "state; a comment line every 15 s while nothing changes. `Last-Event-ID` resumes after the event it names. A " +
                "generation submitted with `stream: true` also sends an event `output`, `{\"text\"}` without an id, per piece " +
                "of its text as it is generated, from the first (best effort: after a lost piece, none; the final event has " +
                "the whole text).")
            .WithParameterDocs("id", IdDescription)
            .WithRequestHeader("Last-Event-ID", "Resume after this event id (a whole number); otherwise `400 last_event_id_invalid`.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound)
            .DisableRateLimiting(); // A stream takes a slot of ApiConcurrency for each read only, and holds none while it waits.

        return group;
    }

    private const string IdDescription = "The request's id, as `POST /v1/inferences` answered it.";

    internal static async Task<Results<Ok<InferenceResponse>, Accepted<InferenceAcceptedResponse>, ProblemHttpResult>> CreateAsync(
        HttpRequest http,
        IValidator<CreateInferenceRequest> validator,
        IServedModels models,
        InferenceSubmissions submissions,
        InferenceDbContext db,
        ApiConcurrency concurrency,
        InferenceWaiters waiters,
        TimeProvider clock,
        IOptions<ApiOptions> options,
        IOptions<OrchestrationOptions> orchestration,
        IOptions<JsonOptions> json,
        CancellationToken cancellationToken)
    {
        var started = clock.GetTimestamp();
        var inferenceId = NewId.NextGuid();

        // Prefer: wait. The waiter is there before the request is stored, so that no outcome can come before it.
        var wait = PreferWaitHeader.Read(http);
        var waiter = wait is null ? null : waiters.TryAdd(inferenceId);
        try
        {
            Results<Ok<InferenceResponse>, Accepted<InferenceAcceptedResponse>, ProblemHttpResult> submitted;
            using (var slot = await concurrency.AcquireAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!slot.IsAcquired)
                    return Problems.Unavailable(http.HttpContext, ApiConcurrency.RefusedDetail);
                submitted = await SubmitAsync(inferenceId, http, validator, models, submissions, db, clock, options.Value,
                    orchestration.Value, json.Value, cancellationToken).ConfigureAwait(false);
            }

            if (submitted.Result is not Accepted<InferenceAcceptedResponse> { Value: { } acceptedBody } accepted || wait is not { } seconds)
                return submitted;

            if (acceptedBody.Id != inferenceId)
            {
                // An Idempotency-Key's earlier request, not ended when it was read: this call waits for that one. It may
                // end before the waiter is there, so the wait below reads it again in any case.
                waiter?.Dispose();
                waiter = waiters.TryAdd(acceptedBody.Id);
            }

            if (waiter is null)
                return accepted;

            // The wait holds no slot, no thread and no connection: the outcome event completes it (InferenceOutcomeConsumer).
            http.HttpContext.Response.Headers[PreferWaitHeader.AppliedName] = PreferWaitHeader.Applied(seconds);
            if (!await waiter.WaitAsync(TimeSpan.FromSeconds(seconds) - clock.GetElapsedTime(started), cancellationToken).ConfigureAwait(false)
                && acceptedBody.Id == inferenceId)
                return accepted;

            // One read, in a slot again: the 200 shows the request exactly as GET does.
            using var readSlot = await concurrency.AcquireAsync(cancellationToken).ConfigureAwait(false);
            if (!readSlot.IsAcquired)
                return accepted;
            return await ReadAsync(db, acceptedBody.Id, http.HttpContext.User.TenantId(), cancellationToken).ConfigureAwait(false) is
                { } ended && HasEnded(ended)
                ? TypedResults.Ok(ended)
                : accepted;
        }
        finally
        {
            waiter?.Dispose();
        }
    }

    /// <summary>
    /// Validates and stores a submission under <paramref name="inferenceId"/>: the 202, or why not. With an
    /// <c>Idempotency-Key</c> the tenant used before, the answer is that submission's request instead (<c>200</c> when
    /// it has ended).
    /// </summary>
    private static async Task<Results<Ok<InferenceResponse>, Accepted<InferenceAcceptedResponse>, ProblemHttpResult>> SubmitAsync(
        Guid inferenceId,
        HttpRequest http,
        IValidator<CreateInferenceRequest> validator,
        IServedModels models,
        InferenceSubmissions submissions,
        InferenceDbContext db,
        TimeProvider clock,
        ApiOptions options,
        OrchestrationOptions orchestration,
        JsonOptions json,
        CancellationToken cancellationToken)
    {
        var (idempotencyKey, idempotencyKeyError) = IdempotencyKeys.Read(http);
        if (idempotencyKeyError is not null)
            return Problems.IdempotencyKeyInvalid(idempotencyKeyError);

        var (request, problem) = await JsonRequestBody.ReadAsync<CreateInferenceRequest>(
            http, options.MaxRequestBodyBytes, json.SerializerOptions, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
            return problem;
        if (request is null)
            return Problems.InvalidJson("The body must be a JSON object.");

        var tenantId = http.HttpContext.User.TenantId();
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

        var (given, parametersError) = GenerationParametersJson.ReadObject(request.Parameters, "parameters");
        if (parametersError is not null)
            return Problems.Validation(parametersError.Code, parametersError.Message, [parametersError]);
        var (parameters, refusal) = ModelTasks.Admit(model, inputs.Count, given, "parameters");
        if (refusal is not null)
            return Problems.Validation(refusal.Code, refusal.Message, [new FieldError(refusal.Field, refusal.Code, refusal.Message)]);

        var stream = request.Stream is { ValueKind: JsonValueKind.True };
        if (request.Stream is { ValueKind: not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null) })
        {
            const string detail = "'stream' must be true or false.";
            return Problems.Validation(ErrorCodes.ParametersInvalid, detail, [new FieldError("stream", ErrorCodes.ParametersInvalid, detail)]);
        }

        if (stream && parameters is null)
        {
            var detail = $"{model.Descriptor.Id} is an {model.Descriptor.Task} model: it has no text to stream.";
            return Problems.Validation(ErrorCodes.ParametersNotSupported, detail, [new FieldError("stream", ErrorCodes.ParametersNotSupported, detail)]);
        }

        // A generation is reserved for its prompt and all of its max_tokens: the plan must hold both.
        var reserved = tokens.Total + (parameters?.MaxTokens ?? 0);
        if (await PlanLimits.ExceededAsync(http.HttpContext, tenantId, inputs.Count, reserved, cancellationToken).ConfigureAwait(false) is { } exceeded)
            return PlanLimits.Problem(exceeded);

        var (cancelAfter, cancelAfterProblem) = CancelAfterHeader.Read(http, orchestration.RequestDeadline);
        if (cancelAfterProblem is not null)
            return cancelAfterProblem;

        (string Key, byte[] Fingerprint)? idempotency = null;
        if (idempotencyKey is not null)
        {
            // What the submission asks for: its body as read (so that spacing and member order do not matter) and its
            // Cancel-After. Only a valid submission is compared: its text then holds nothing the serializer cannot write.
            idempotency = (idempotencyKey, IdempotencyKeys.Fingerprint(
                JsonSerializer.SerializeToUtf8Bytes(request, json.SerializerOptions),
                Encoding.UTF8.GetBytes(http.Headers[CancelAfterHeader.Name].ToString())));
            if (await IdempotencyKeys.FindAsync(db, tenantId, idempotencyKey, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false) is { } used)
                return await ReplayAsync(http, db, used, idempotency.Value.Fingerprint, cancellationToken).ConfigureAwait(false);
        }

        var message = new SubmitInference
        {
            InferenceId = inferenceId,
            TenantId = tenantId,
            Model = model.Descriptor.Id,
            Inputs = inputs,
            CancelAfter = cancelAfter,
            Parameters = parameters,
        };

        SubmissionOutcome outcome;
        try
        {
            // The request is stored before anything is answered: a 202 is never followed by a 404. The wait for the
            // quota decision lets a rejection be answered on this call.
            outcome = await submissions.SubmitAsync(message, tokens.Total, options.QuotaDecisionTimeout, cancellationToken, idempotency,
                InferenceMetadata.From(request.MetadataEntries()),
                request.WebhookUrl() is { } webhook ? (webhook, request.WebhookEvents()) : null, stream)
                .ConfigureAwait(false);
        }
        catch (IdempotencyKeyTakenException)
        {
            // Another submission with the key was stored a moment before this one: this is answered with its request.
            return await IdempotencyKeys.FindAsync(db, tenantId, idempotency!.Value.Key, clock.GetUtcNow(), cancellationToken).ConfigureAwait(false) is { } used
                ? await ReplayAsync(http, db, used, idempotency.Value.Fingerprint, cancellationToken).ConfigureAwait(false)
                : Problems.Unavailable(http.HttpContext, "The Idempotency-Key changed hands while this request was stored; nothing was accepted.");
        }
        catch (Exception exception) when (TransientFailures.Is(exception))
        {
            // Not stored, so not accepted: the client may send it again once the database is back.
            return Problems.Unavailable(http.HttpContext, "The request could not be stored right now; nothing was accepted.");
        }

        var (stored, decision) = outcome;
        // A request canceled before its quota was decided (its own Cancel-After, or a cancel by id) was accepted and has
        // ended: it is answered as accepted, canceled, not as a failure of the server.
        if (decision is InferenceRejected { Code: not (ErrorCodes.Canceled or ErrorCodes.CancelAfterElapsed) } rejected)
            return Rejected(http, rejected);

        var status = InferenceStates.ToApi(decision switch
        {
            InferenceAccepted => InferenceStates.QuotaReserved,
            InferenceRejected => InferenceStates.Canceled,
            _ => InferenceStates.Submitted,
        });
        var location = $"/v1/inferences/{message.InferenceId}";
        return TypedResults.Accepted(location, new InferenceAcceptedResponse(
            message.InferenceId, status, message.Model, stored.CreatedAt,
            new ReservedUsageResponse(stored.ReservedTokens), new InferenceUrlsResponse(location, $"{location}/cancel")));
    }

    /// <summary>
    /// The answer to a submission whose <c>Idempotency-Key</c> names an earlier request: that request (<c>200</c> if it has
    /// ended, else the <c>202</c> body again), or <c>422</c> when the earlier submission asked for something else.
    /// </summary>
    private static async Task<Results<Ok<InferenceResponse>, Accepted<InferenceAcceptedResponse>, ProblemHttpResult>> ReplayAsync(
        HttpRequest http, InferenceDbContext db, IdempotencyKey used, byte[] fingerprint, CancellationToken cancellationToken)
    {
        if (!CryptographicOperations.FixedTimeEquals(used.Fingerprint, fingerprint))
            return Problems.IdempotencyKeyReused(used.InferenceId);

        // A key is deleted with its request, in one transaction; so a key without one was deleted a moment ago.
        if (await ReadAsync(db, used.InferenceId, used.TenantId, cancellationToken).ConfigureAwait(false) is not { } inference)
            return Problems.Unavailable(http.HttpContext, "The request this Idempotency-Key named was deleted a moment ago; send it again.");

        http.HttpContext.Response.Headers[IdempotencyKeys.ReplayedHeaderName] = "true";
        if (HasEnded(inference))
            return TypedResults.Ok(inference);

        // What was reserved: the prompt's tokens, and a generation's max_tokens too.
        var reserved = await db.Inferences.AsNoTracking().Where(x => x.CorrelationId == inference.Id).Select(x => x.ReservedTokens)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        var location = $"/v1/inferences/{inference.Id}";
        return TypedResults.Accepted(location, new InferenceAcceptedResponse(
            inference.Id, inference.Status, inference.Model, inference.CreatedAt,
            new ReservedUsageResponse(reserved), new InferenceUrlsResponse(location, $"{location}/cancel")));
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
        return await ReadAsync(db, inferenceId, http.User.TenantId(), cancellationToken).ConfigureAwait(false) is { } inference
            ? TypedResults.Ok(inference)
            : Problems.InferenceNotFound(id);
    }

    /// <summary>The tenant's request as <c>GET</c> shows it, with its output once completed; null when the tenant has none.</summary>
    internal static async Task<InferenceResponse?> ReadAsync(InferenceDbContext db, Guid inferenceId, string tenantId,
        CancellationToken cancellationToken)
    {
        var saga = await db.Inferences.AsNoTracking()
            .SingleOrDefaultAsync(x => x.CorrelationId == inferenceId && x.TenantId == tenantId, cancellationToken)
            .ConfigureAwait(false);
        if (saga is null)
            return null;

        OutputResponse? output = null;
        if (saga.CurrentState == InferenceStates.Completed)
        {
            output = ResultText.Response(await db.Results.AsNoTracking().SingleOrDefaultAsync(x => x.InferenceId == inferenceId, cancellationToken)
                .ConfigureAwait(false));
        }

        // Only a request with a webhook reads its deliveries.
        var response = InferenceView.WithOutput(InferenceView.Item(saga), output);
        if (saga.Webhook is not null)
        {
            var delivery = await db.WebhookDeliveries.AsNoTracking().Where(x => x.InferenceId == inferenceId)
                .OrderByDescending(x => x.CreatedAt).ThenByDescending(x => x.Id).FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
            response = response with { Webhook = Webhooks.WebhookStatusResponse.From(delivery) };
        }

        return response;
    }

    private static bool HasEnded(InferenceResponse inference) =>
        InferenceStates.FromApi(inference.Status) is { } state && InferenceStates.IsFinal(state);

    internal static ProblemHttpResult Rejected(HttpRequest http, InferenceRejected rejected)
    {
        if (!QuotaRefusals.IsRefusal(rejected.Code))
            return Problems.Failed(rejected.Code, rejected.Message, rejected.InferenceId);

        if (rejected.RetryAfter is { } retryAfter)
            http.HttpContext.Response.Headers.RetryAfter = ((long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problems.QuotaRefused(rejected.Code, rejected.Message, rejected.InferenceId, rejected.LimitValue, rejected.Used, rejected.Requested);
    }
}
