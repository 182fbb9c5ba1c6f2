using System.Text.Json;
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

/// <summary>
/// <c>POST /v1/completions</c>, OpenAI's (legacy) completions route, for text-generation models, over the same path as
/// every request: stored and accepted like a <c>POST /v1/inferences</c> (same saga, quota, limits; it is listed there),
/// reserved for its prompt and its <c>max_tokens</c> and charged for what it generated. Without <c>stream</c> the call
/// waits for the end as <c>/v1/embeddings</c> does; with it, the text is relayed as server-sent events as the worker
/// generates it (<see cref="CompletionStream"/>). OpenAI-compatible: its errors are OpenAI's (<see cref="OpenAiErrors"/>).
/// </summary>
public static class CompletionsApi
{
    /// <summary>OpenAI's default <c>max_tokens</c> on this route.</summary>
    public const int DefaultMaxTokens = 16;

    /// <summary>How much longer than the request may run the call waits for its outcome event, as on <c>/v1/embeddings</c>.</summary>
    internal static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    public static RouteGroupBuilder MapCompletionsApiV1(this IEndpointRouteBuilder app)
    {
        var group = app.MapOpenAiGroup("/v1/completions").RequireAuthorization().WithTags("Completions");

        group.MapPost("/", CreateAsync)
            .WithName("CreateCompletion")
            .WithDocs("Create a completion (OpenAI-compatible)",
                "OpenAI's completions route for text-generation models: the request is stored, reserved (prompt tokens plus " +
                "`max_tokens`, 16 by default) and run like a `POST /v1/inferences` (it is listed there) and charged for the " +
                "tokens it used. `prompt` is a string or an array of one; `n` only 1; `temperature` 0 to 2, `top_p` above 0 " +
                "and at most 1, `seed` a whole number, `stop` up to 4 strings. Without `stream` the call answers the completion " +
                "object when the request ends. With `stream: true` it answers `text/event-stream`: OpenAI's chunks as the text " +
                "is generated, `finish_reason` in the last, the usage in a chunk of its own with `stream_options.include_usage`, " +
                "then `data: [DONE]`; an error after the stream started is one `data: {\"error\": ...}` event, and the stream " +
                "ends. A client that leaves does not cancel the request: it runs to its end and is charged (cancel it by id, " +
                "`POST /v1/inferences/{id}/cancel`, the id being the completion's without `cmpl-`). Errors are OpenAI's body; a " +
                "request that cannot end within `Api:CompletionsTimeout` is canceled uncharged.")
            .Accepts<CreateCompletionRequest>("application/json")
            .Produces<CompletionResponse>(StatusCodes.Status200OK, "application/json", "text/event-stream")
            .ProducesOpenAiErrors(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound,
                StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status429TooManyRequests,
                StatusCodes.Status503ServiceUnavailable);

        return group;
    }

    internal static async Task<Results<Ok<CompletionResponse>, CompletionStream, NotFound<OpenAiErrorResponse>, ProblemHttpResult>> CreateAsync(
        HttpRequest http,
        IServedModels models,
        InferenceSubmissions submissions,
        InferenceDbContext db,
        ApiConcurrency concurrency,
        InferenceWaiters waiters,
        InferenceOutputHub outputs,
        TimeProvider clock,
        IHostApplicationLifetime lifetime,
        IOptions<ApiOptions> options,
        IOptions<OrchestrationOptions> orchestration,
        IOptions<JsonOptions> json,
        CancellationToken cancellationToken)
    {
        var inferenceId = NewId.NextGuid();
        // The waiter (and a stream's subscription) is there before the request is stored, so that nothing can come before it.
        var waiter = waiters.TryAdd(inferenceId);
        if (waiter is null)
            return Problems.Unavailable(http.HttpContext, "The server holds as many synchronous requests as it can; nothing was accepted.");
        InferenceOutputHub.Subscription? subscription = null;
        var handedOver = false;
        try
        {
            var runFor = options.Value.CompletionsTimeout < orchestration.Value.RequestDeadline
                ? options.Value.CompletionsTimeout
                : orchestration.Value.RequestDeadline;
            Submitted submitted;
            using (var slot = await concurrency.AcquireAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!slot.IsAcquired)
                    return Problems.Unavailable(http.HttpContext, ApiConcurrency.RefusedDetail);
                var (request, problem) = await JsonRequestBody.ReadAsync<CreateCompletionRequest>(
                    http, options.Value.MaxRequestBodyBytes, json.Value.SerializerOptions, cancellationToken).ConfigureAwait(false);
                if (problem is not null)
                    return problem;
                if (request is null)
                    return Problems.InvalidJson("The body must be a JSON object.");

                var (read, refused) = Read(request, models, options.Value);
                switch (refused)
                {
                    case NotFound<OpenAiErrorResponse> notFound:
                        return notFound;
                    case ProblemHttpResult invalid:
                        return invalid;
                }

                if (read!.Stream)
                    subscription = outputs.Watch(inferenceId);

                var answer = await SubmitAsync(inferenceId, runFor, read!, http, submissions, options.Value.QuotaDecisionTimeout,
                    cancellationToken).ConfigureAwait(false);
                if (answer is not null)
                    return answer;
                submitted = read;
            }

            var created = clock.GetUtcNow().ToUnixTimeSeconds();
            if (subscription is not null)
            {
                handedOver = true;
                return new CompletionStream(new CompletionStream.Request(inferenceId, submitted.Model, created, submitted.IncludeUsage,
                    runFor + Grace), waiter, subscription, new CompletionStream.Services(db, concurrency, clock, lifetime,
                    options.Value.EventHeartbeatInterval, json.Value.SerializerOptions));
            }

            // The request ends by itself within runFor (its Cancel-After). Whether or not the outcome event came, the row says.
            await waiter.WaitAsync(runFor + Grace, cancellationToken).ConfigureAwait(false);

            using var readSlot = await concurrency.AcquireAsync(cancellationToken).ConfigureAwait(false);
            if (!readSlot.IsAcquired)
                return Problems.Unavailable(http.HttpContext, ApiConcurrency.RefusedDetail);
            var ended = await ReadEndAsync(db, inferenceId, cancellationToken).ConfigureAwait(false);
            return ended.Problem(http.HttpContext, inferenceId) is { } failed
                ? failed
                : TypedResults.Ok(ended.Completion(inferenceId, submitted.Model, created));
        }
        finally
        {
            if (!handedOver)
            {
                subscription?.Dispose();
                waiter.Dispose();
            }
        }
    }

    /// <summary>A request this route accepts: what to submit and how to answer.</summary>
    internal sealed record Submitted(string Model, string Prompt, int PromptTokens, GenerationParameters Parameters, bool Stream,
        bool IncludeUsage);

    /// <summary>Checks the body against the model: what to submit, or the error (OpenAI's <c>404</c> for an unknown model).</summary>
    private static (Submitted? Request, IResult? Refused) Read(CreateCompletionRequest request, IServedModels models, ApiOptions options)
    {
        if (string.IsNullOrEmpty(request.Model))
            return (null, Invalid("model", "model_required", "'model' is required."));
        if (!models.TryGet(request.Model, out var model))
            return (null, OpenAiErrors.ModelNotFound(request.Model));
        if (model.Descriptor.Kind != ModelKind.TextGeneration)
        {
            return (null, Invalid("model", ErrorCodes.ModelNotSupported,
                $"{model.Descriptor.Id} is an {model.Descriptor.Task} model; /v1/completions serves text-generation models."));
        }

        if (Unsupported(request) is { } unsupported)
            return (null, unsupported);

        var (stream, streamError) = Flag(request.Stream, "stream");
        if (streamError is not null)
            return (null, streamError);
        var includeUsage = false;
        if (stream && GenerationParametersJson.IsGiven(request.StreamOptions))
        {
            if (request.StreamOptions.ValueKind != JsonValueKind.Object)
                return (null, Invalid("stream_options", ErrorCodes.ParametersInvalid, "'stream_options' must be an object: {\"include_usage\": true}."));
            var (include, includeError) = Flag(
                request.StreamOptions.TryGetProperty("include_usage", out var value) ? value : default, "stream_options.include_usage");
            if (includeError is not null)
                return (null, includeError);
            includeUsage = include;
        }

        if (request.Prompt is not { } prompt || prompt.ValueKind == JsonValueKind.Null)
            return (null, Invalid("prompt", "input_required", "'prompt' is required: a string, or an array of one string."));
        string text;
        if (prompt.ValueKind == JsonValueKind.String)
            text = FaithfulJsonString.Read(prompt);
        else if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String)
            text = FaithfulJsonString.Read(prompt[0]);
        else if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() > 1 && prompt.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
            return (null, Invalid("prompt", ErrorCodes.TooManyInputs, $"'prompt' holds {prompt.GetArrayLength()} strings; this route completes one."));
        else
            return (null, Invalid("prompt", "input_invalid", "'prompt' must be a string, or an array of one string."));

        if (CreateInferenceRequestValidator.InputError(text, 0, options.MaxInputCharacters) is { } inputError)
            return (null, Invalid("prompt", inputError.ErrorCode, inputError.ErrorMessage));

        var (given, parametersError) = GenerationParametersJson.Read(request.MaxTokens, request.Temperature, request.TopP, request.Seed,
            request.Stop, "");
        if (parametersError is not null)
            return (null, Invalid(parametersError.Field, parametersError.Code, parametersError.Message));
        var (parameters, refusal) = ModelTasks.Admit(model, 1, given, "", DefaultMaxTokens);
        if (refusal is not null)
            return (null, Invalid(refusal.Field, refusal.Code, refusal.Message));

        var tokens = model.CountTokens([text]);
        if (InputTokens.Problems(model, tokens) is [var first, ..])
            return (null, Invalid("prompt", first.Code, first.Message));

        return (new Submitted(model.Descriptor.Id, text, tokens.Total, parameters!, stream, includeUsage), null);
    }

    /// <summary>Stores the request: null when it was accepted, else the answer (the plan, the quota, an outage).</summary>
    private static async Task<ProblemHttpResult?> SubmitAsync(Guid inferenceId, TimeSpan runFor, Submitted request, HttpRequest http,
        InferenceSubmissions submissions, TimeSpan decisionTimeout, CancellationToken cancellationToken)
    {
        var tenantId = http.HttpContext.User.TenantId();
        var reserved = request.PromptTokens + (request.Parameters.MaxTokens ?? 0);
        if (await PlanLimits.ExceededAsync(http.HttpContext, tenantId, 1, reserved, cancellationToken).ConfigureAwait(false) is { } exceeded)
            return PlanLimits.Problem(exceeded);

        var message = new SubmitInference
        {
            InferenceId = inferenceId,
            TenantId = tenantId,
            Model = request.Model,
            Inputs = [request.Prompt],
            CancelAfter = runFor,
            Parameters = request.Parameters,
        };

        SubmissionOutcome outcome;
        try
        {
            outcome = await submissions.SubmitAsync(message, request.PromptTokens, decisionTimeout, cancellationToken, stream: request.Stream)
                .ConfigureAwait(false);
        }
        catch (Exception exception) when (TransientFailures.Is(exception))
        {
            return Problems.Unavailable(http.HttpContext, "The request could not be stored right now; nothing was accepted.");
        }

        return outcome.Decision is InferenceRejected rejected ? InferencesApi.Rejected(http, rejected) : null;
    }

    /// <summary>How an ended (or not ended) request reads: its state, usage, error and output.</summary>
    internal sealed record Ended(string State, int PromptTokens, int CompletionTokens, string? ErrorCode, string? ErrorMessage,
        InferenceOutput? Output)
    {
        /// <summary>The error to answer, or null when the request completed.</summary>
        public ProblemHttpResult? Problem(HttpContext http, Guid inferenceId)
        {
            if (State == InferenceStates.Completed)
                return null;
            if (!InferenceStates.IsFinal(State))
                return Problems.Unavailable(http, $"Request {inferenceId} has not ended in time; it is canceled at its time limit.");
            var code = ErrorCode ?? ErrorCodes.InferenceFailed;
            return QuotaRefusals.IsRefusal(code)
                ? Problems.QuotaRefused(code, ErrorMessage ?? code, inferenceId)
                : Problems.Failed(code, ErrorMessage ?? code, inferenceId);
        }

        public CompletionUsageResponse Usage => new(PromptTokens, CompletionTokens, PromptTokens + CompletionTokens);

        public CompletionResponse Completion(Guid inferenceId, string model, long created) => new(
            Id(inferenceId), TextCompletion, created, model,
            [new CompletionChoiceResponse(Output?.Text ?? "", 0, null, Output?.FinishReason ?? "stop")], Usage);
    }

    /// <summary>OpenAI's object name of a completion and of its chunks.</summary>
    internal const string TextCompletion = "text_completion";

    internal static string Id(Guid inferenceId) => $"cmpl-{inferenceId:N}";

    internal static async Task<Ended> ReadEndAsync(InferenceDbContext db, Guid inferenceId, CancellationToken cancellationToken)
    {
        var saga = await db.Inferences.AsNoTracking()
            .Where(x => x.CorrelationId == inferenceId)
            .Select(x => new { x.CurrentState, x.PromptTokens, x.CompletionTokens, x.ErrorCode, x.ErrorMessage })
            .SingleAsync(cancellationToken).ConfigureAwait(false);
        InferenceOutput? output = null;
        if (saga.CurrentState == InferenceStates.Completed
            && await db.Results.AsNoTracking().SingleOrDefaultAsync(x => x.InferenceId == inferenceId, cancellationToken).ConfigureAwait(false) is { } result)
            output = ResultText.Output(result);
        return new Ended(saga.CurrentState, saga.PromptTokens, saga.CompletionTokens, saga.ErrorCode, saga.ErrorMessage, output);
    }

    /// <summary>The OpenAI parameters the platform does not implement, refused unless they hold their default.</summary>
    private static ProblemHttpResult? Unsupported(CreateCompletionRequest request)
    {
        if (GenerationParametersJson.IsGiven(request.N) && !(request.N.ValueKind == JsonValueKind.Number && request.N.TryGetInt32(out var n) && n == 1))
            return Invalid("n", ErrorCodes.UnsupportedValue, "'n' must be 1: one completion per request.");
        if (GenerationParametersJson.IsGiven(request.BestOf) && !(request.BestOf.ValueKind == JsonValueKind.Number && request.BestOf.TryGetInt32(out var bestOf) && bestOf == 1))
            return Invalid("best_of", ErrorCodes.UnsupportedValue, "'best_of' must be 1.");
        if (GenerationParametersJson.IsGiven(request.Echo) && request.Echo.ValueKind != JsonValueKind.False)
            return Invalid("echo", ErrorCodes.UnsupportedValue, "'echo' is not supported; leave it out or send false.");
        if (GenerationParametersJson.IsGiven(request.Logprobs) && !(request.Logprobs.ValueKind == JsonValueKind.Number && request.Logprobs.TryGetInt32(out var logprobs) && logprobs == 0))
            return Invalid("logprobs", ErrorCodes.UnsupportedValue, "'logprobs' is not supported; leave it out.");
        if (GenerationParametersJson.IsGiven(request.Suffix) && !(request.Suffix.ValueKind == JsonValueKind.String && request.Suffix.GetString() is ""))
            return Invalid("suffix", ErrorCodes.UnsupportedValue, "'suffix' is not supported; leave it out.");
        return null;
    }

    private static (bool Value, ProblemHttpResult? Error) Flag(JsonElement value, string field) => value.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.False => (false, null),
        JsonValueKind.True => (true, null),
        _ => (false, Invalid(field, ErrorCodes.ParametersInvalid, $"'{field}' must be true or false.")),
    };

    private static ProblemHttpResult Invalid(string field, string code, string message) =>
        Problems.Validation(code, message, [new FieldError(field, code, message)]);
}
