using FluentValidation;
using Inference.Contracts;
using Inference.Engine;
using Inference.Orchestration;
using Inference.Server.Orchestration;
using Inference.Server.Persistence;
using Inference.Server.Resilience;
using Inference.Server.Tenants;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>
/// <c>POST /v1/embeddings</c>, OpenAI's embeddings route, answered synchronously over the same path as every request:
/// the request is stored and accepted like a <c>POST /v1/inferences</c> (same saga, quota, models and limits; it shows
/// in <c>GET /v1/inferences</c>), and the call waits for its end the way <c>Prefer: wait</c> does, holding no thread,
/// no connection and no concurrency slot. OpenAI-compatible: its errors are OpenAI's (<see cref="OpenAiErrors"/>).
/// </summary>
public static class EmbeddingsApi
{
    /// <summary>
    /// How much longer than the request may run (<see cref="ApiOptions.EmbeddingsTimeout"/>, its <c>Cancel-After</c>) the
    /// call waits for the outcome event, which travels from the orchestrator through the broker.
    /// </summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    private const string FormatItem = "embeddings.encoding_format";

    public static RouteGroupBuilder MapEmbeddingsApiV1(this IEndpointRouteBuilder app)
    {
        var group = app.MapOpenAiGroup("/v1/embeddings").RequireAuthorization().WithTags("Embeddings");

        group.MapPost("/", CreateAsync)
            .WithName("CreateEmbeddings")
            .WithDocs("Create embeddings (OpenAI-compatible)",
                "OpenAI's embeddings route, answered on the call: the request is stored, reserved and run like a " +
                "`POST /v1/inferences` (it is listed there) and the call waits for its end. `input` is a string, strings, token " +
                "ids of the model's own vocabulary, or arrays of them; `encoding_format` `float` or `base64`; `dimensions` only " +
                "the model's own. Errors are OpenAI's body; a request that cannot end within `Api:EmbeddingsTimeout` is " +
                "canceled uncharged and answered `503 cancel_after_elapsed`.")
            .Accepts<CreateEmbeddingRequest>("application/json")
            .Produces<EmbeddingListResponse>()
            .ProducesOpenAiErrors(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound,
                StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status429TooManyRequests,
                StatusCodes.Status503ServiceUnavailable);

        return group;
    }

    internal static async Task<Results<Ok<EmbeddingListResponse>, NotFound<OpenAiErrorResponse>, ProblemHttpResult>> CreateAsync(
        HttpRequest http,
        IValidator<CreateEmbeddingRequest> validator,
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
        var inferenceId = NewId.NextGuid();
        // The waiter is there before the request is stored, so that no outcome can come before it.
        using var waiter = waiters.TryAdd(inferenceId);
        if (waiter is null)
            return Problems.Unavailable(http.HttpContext, "The server holds as many synchronous requests as it can; nothing was accepted.");

        var runFor = options.Value.EmbeddingsTimeout < orchestration.Value.RequestDeadline
            ? options.Value.EmbeddingsTimeout
            : orchestration.Value.RequestDeadline;
        string model;
        using (var slot = await concurrency.AcquireAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!slot.IsAcquired)
                return Problems.Unavailable(http.HttpContext, ApiConcurrency.RefusedDetail);
            var submitted = await SubmitAsync(inferenceId, runFor, http, validator, models, submissions, options.Value, json.Value,
                cancellationToken).ConfigureAwait(false);
            switch (submitted.Result)
            {
                case NotFound<OpenAiErrorResponse> notFound:
                    return notFound;
                case ProblemHttpResult refused:
                    return refused;
                case Ok<string> { Value: { } id }:
                    model = id;
                    break;
                default:
                    throw new InvalidOperationException("A submission ends stored or refused.");
            }
        }

        // The request ends by itself within runFor (its Cancel-After). Whether or not the outcome event came, the row says.
        await waiter.WaitAsync(runFor + Grace, cancellationToken).ConfigureAwait(false);

        using var readSlot = await concurrency.AcquireAsync(cancellationToken).ConfigureAwait(false);
        if (!readSlot.IsAcquired)
            return Problems.Unavailable(http.HttpContext, ApiConcurrency.RefusedDetail);
        return await ReadAsync(http, db, inferenceId, model, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Validates and stores the request; its model's id, or why not.</summary>
    private static async Task<Results<Ok<string>, NotFound<OpenAiErrorResponse>, ProblemHttpResult>> SubmitAsync(
        Guid inferenceId,
        TimeSpan runFor,
        HttpRequest http,
        IValidator<CreateEmbeddingRequest> validator,
        IServedModels models,
        InferenceSubmissions submissions,
        ApiOptions options,
        JsonOptions json,
        CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonRequestBody.ReadAsync<CreateEmbeddingRequest>(
            http, options.MaxRequestBodyBytes, json.SerializerOptions, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
            return problem;
        if (request is null)
            return Problems.InvalidJson("The body must be a JSON object.");

        http.HttpContext.Items[FormatItem] = request.EncodingFormat;
        var validation = await validator.ValidateAsync(request, cancellationToken).ConfigureAwait(false);
        if (!validation.IsValid)
        {
            var failure = validation.Errors[0];
            // OpenAI answers an unknown model with 404, as GET /v1/models/{id} does.
            if (failure.ErrorCode == ErrorCodes.ModelNotFound)
                return OpenAiErrors.ModelNotFound(request.Model!);
            var errors = validation.Errors.Select(e => new FieldError(Field(e.PropertyName), e.ErrorCode, e.ErrorMessage)).ToList();
            return Problems.Validation(errors[0].Code, errors[0].Message, errors);
        }

        models.TryGet(request.Model!, out var model);
        if (model!.Descriptor.Kind != ModelKind.Embedding)
        {
            var detail = $"{model.Descriptor.Id} is a {model.Descriptor.Task} model; /v1/embeddings serves embedding models.";
            return Problems.Validation(ErrorCodes.ModelNotSupported, detail, [new FieldError("model", ErrorCodes.ModelNotSupported, detail)]);
        }

        var (inputs, inputError) = EmbeddingInputs.Read(request.Input!.Value, model);
        if (inputError is not null)
            return Problems.Validation(inputError.Code, inputError.Message, [inputError]);
        if (inputs!.Count > options.MaxInputsPerRequest)
        {
            var detail = $"'input' holds {inputs.Count} inputs; at most {options.MaxInputsPerRequest} are accepted per request.";
            return Problems.Validation("too_many_inputs", detail, [new FieldError("input", "too_many_inputs", detail)]);
        }

        for (var i = 0; i < inputs.Count; i++)
        {
            if (CreateInferenceRequestValidator.InputError(inputs[i], i, options.MaxInputCharacters) is { } error)
                return Problems.Validation(error.ErrorCode, error.ErrorMessage, [new FieldError(error.PropertyName, error.ErrorCode, error.ErrorMessage)]);
        }

        var tokens = model!.CountTokens(inputs);
        if (InputTokens.Problems(model, tokens) is [var first, ..] problems)
        {
            return Problems.Validation(first.Code, first.Message,
                [.. problems.Select(p => new FieldError($"input[{p.Index}]", p.Code, p.Message))]);
        }

        var tenantId = http.HttpContext.User.TenantId();
        if (await PlanLimits.ExceededAsync(http.HttpContext, tenantId, inputs.Count, tokens.Total, cancellationToken).ConfigureAwait(false) is { } exceeded)
            return PlanLimits.Problem(exceeded);

        var message = new SubmitInference
        {
            InferenceId = inferenceId,
            TenantId = tenantId,
            Model = model.Descriptor.Id,
            Inputs = inputs,
            CancelAfter = runFor,
        };

        SubmissionOutcome outcome;
        try
        {
            outcome = await submissions.SubmitAsync(message, tokens.Total, options.QuotaDecisionTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (TransientFailures.Is(exception))
        {
            return Problems.Unavailable(http.HttpContext, "The request could not be stored right now; nothing was accepted.");
        }

        if (outcome.Decision is InferenceRejected rejected)
            return InferencesApi.Rejected(http, rejected);
        return TypedResults.Ok(model.Descriptor.Id);
    }

    /// <summary>The ended request as OpenAI's answer: its embeddings in the format asked for, or the error it ended with.</summary>
    private static async Task<Results<Ok<EmbeddingListResponse>, NotFound<OpenAiErrorResponse>, ProblemHttpResult>> ReadAsync(
        HttpRequest http, InferenceDbContext db, Guid inferenceId, string model, CancellationToken cancellationToken)
    {
        var saga = await db.Inferences.AsNoTracking()
            .Where(x => x.CorrelationId == inferenceId)
            .Select(x => new { x.CurrentState, x.PromptTokens, x.ErrorCode, x.ErrorMessage })
            .SingleAsync(cancellationToken).ConfigureAwait(false);

        if (saga.CurrentState != InferenceStates.Completed)
        {
            if (!InferenceStates.IsFinal(saga.CurrentState))
                return Problems.Unavailable(http.HttpContext, $"Request {inferenceId} has not ended in time; it is canceled at its time limit.");
            var code = saga.ErrorCode ?? ErrorCodes.InferenceFailed;
            return QuotaRefusals.IsRefusal(code)
                ? Problems.QuotaRefused(code, saga.ErrorMessage ?? code, inferenceId)
                : Problems.Failed(code, saga.ErrorMessage ?? code, inferenceId);
        }

        var result = await db.Results.AsNoTracking().SingleAsync(x => x.InferenceId == inferenceId, cancellationToken).ConfigureAwait(false);
        var base64 = EmbeddingFormat(http) == CreateEmbeddingRequest.Base64Format;
        var vectorBytes = result.Dimensions * sizeof(float);
        var count = result.Embeddings is null || vectorBytes == 0 ? 0 : result.Embeddings.Length / vectorBytes;
        var data = new EmbeddingResponse[count];
        for (var i = 0; i < count; i++)
        {
            var bytes = result.Embeddings.AsSpan(i * vectorBytes, vectorBytes);
            // The stored vectors are little-endian float32, which is what OpenAI's base64 encodes.
            object embedding = base64
                ? Convert.ToBase64String(bytes)
                : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray();
            data[i] = new EmbeddingResponse("embedding", i, embedding);
        }

        return TypedResults.Ok(new EmbeddingListResponse("list", data, model, new EmbeddingUsageResponse(saga.PromptTokens, saga.PromptTokens)));
    }

    /// <summary>The format the request asked for; kept by the handler so that the read need not parse the body again.</summary>
    private static string EmbeddingFormat(HttpRequest http) =>
        http.HttpContext.Items.TryGetValue(FormatItem, out var format) && format is string value ? value : CreateEmbeddingRequest.FloatFormat;

    private static string Field(string property) => property switch
    {
        nameof(CreateEmbeddingRequest.EncodingFormat) => "encoding_format",
        _ => property.ToLowerInvariant(),
    };
}

/// <summary>OpenAI's answer to an embeddings request.</summary>
/// <param name="Object">Always <c>list</c>.</param>
/// <param name="Data">One embedding per input, in input order.</param>
/// <param name="Model">The model's id.</param>
/// <param name="Usage">The tokens charged: every input's, special tokens included.</param>
public sealed record EmbeddingListResponse(string Object, IReadOnlyList<EmbeddingResponse> Data, string Model, EmbeddingUsageResponse Usage);

/// <summary>One input's vector: an array of floats, or a base64 string of little-endian float32 bytes.</summary>
/// <param name="Object">Always <c>embedding</c>.</param>
/// <param name="Index">The input's position in the request, from 0.</param>
/// <param name="Embedding">A <c>float[]</c>, or a <c>string</c> with <c>encoding_format: base64</c>.</param>
public sealed record EmbeddingResponse(string Object, int Index, object Embedding);

public sealed record EmbeddingUsageResponse(int PromptTokens, int TotalTokens);
