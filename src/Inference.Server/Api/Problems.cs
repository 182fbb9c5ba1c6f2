using System.Globalization;
using Inference.Orchestration;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;

namespace Inference.Server.Api;

/// <summary>
/// Every error the API returns: RFC 9457 problem+json with a stable <c>code</c> extension that clients may switch on.
/// Titles and details are for people and may change; codes do not.
/// </summary>
public static class Problems
{
    public static ProblemHttpResult Unauthorized() =>
        Create(StatusCodes.Status401Unauthorized, "unauthorized", "Authentication required",
            "Send a valid API key as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'.");

    public static ProblemHttpResult InvalidJson(string detail) =>
        Create(StatusCodes.Status400BadRequest, "invalid_json", "The body is not valid JSON for this request", detail);

    public static ProblemHttpResult UnsupportedMediaType() =>
        Create(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported media type",
            "Send the body as JSON with 'Content-Type: application/json'.");

    /// <summary>The body declares a charset other than UTF-8, the only one JSON may be exchanged in (RFC 8259).</summary>
    public static ProblemHttpResult UnsupportedCharset(string charset) =>
        Create(StatusCodes.Status415UnsupportedMediaType, "unsupported_charset", "Unsupported charset",
            $"The body's charset '{InputText.Printable(charset)}' is not supported. Send JSON as UTF-8: " +
            "'Content-Type: application/json' or 'application/json; charset=utf-8'.");

    public static ProblemHttpResult InvalidUtf8(int offset) =>
        Create(StatusCodes.Status400BadRequest, "invalid_utf8", "The body is not valid UTF-8",
            string.Create(CultureInfo.InvariantCulture, $"The body is not valid UTF-8: the bytes at offset {offset} are no UTF-8 character."));

    public static ProblemHttpResult PayloadTooLarge(long maxBytes) =>
        Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", "Payload too large",
            string.Create(CultureInfo.InvariantCulture, $"The body is larger than {maxBytes} bytes, the most this API accepts. Send fewer or shorter inputs per request."));

    public static ProblemHttpResult RequestTimeout() =>
        Create(StatusCodes.Status408RequestTimeout, "request_timeout", "Request timeout",
            "The body did not arrive in time: it was sent too slowly or stopped before its end.");

    /// <summary>Any other client error the framework reports; the code is the status's reason phrase, e.g. <c>bad_request</c>.</summary>
    public static ProblemHttpResult ClientError(int status, string detail) =>
        Create(status, CodeOf(status), ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } title ? title : "Client error", detail);

    public static ProblemHttpResult Validation(string code, string detail, IReadOnlyList<FieldError> errors) =>
        Create(StatusCodes.Status400BadRequest, code, "The request is not valid", detail, new() { ["errors"] = errors });

    public static ProblemHttpResult InferenceNotFound(string id) =>
        Create(StatusCodes.Status404NotFound, "inference_not_found", "No such inference", $"There is no inference '{InputText.Printable(id)}'.");

    /// <summary>A cancel of a request that has already ended; nothing changed.</summary>
    public static ProblemHttpResult InferenceFinal(Guid inferenceId, string status) =>
        Create(StatusCodes.Status409Conflict, "inference_final", "The inference has ended",
            $"The inference has already ended: it is {status}. Nothing was changed.",
            new() { ["inference_id"] = inferenceId, ["inference_status"] = status });

    /// <summary>
    /// The request was refused by a window of its tenant's plan (<paramref name="code"/>, one of
    /// <see cref="QuotaRefusals.Codes"/>); it exists, failed, under <paramref name="inferenceId"/>. <c>limit</c>, <c>used</c>
    /// and <c>requested</c> are the window's limit, what it held, and what the request asked; absent when only the stored
    /// request is at hand.
    /// </summary>
    public static ProblemHttpResult QuotaRefused(string code, string detail, Guid inferenceId, long? limit = null, long? used = null,
        long? requested = null)
    {
        var extensions = new Dictionary<string, object?> { ["inference_id"] = inferenceId, ["limit_name"] = QuotaRefusals.LimitOf(code) };
        if (limit is not null)
            (extensions["limit"], extensions["used"], extensions["requested"]) = (limit, used, requested);
        return Create(StatusCodes.Status429TooManyRequests, code,
            code is ErrorCodes.RateLimitRequests or ErrorCodes.RateLimitTokens or ErrorCodes.ConcurrencyLimit ? "Rate limit reached" : "Quota exceeded",
            detail, extensions);
    }

    /// <summary>The quota store cannot be read or written; nothing was charged.</summary>
    public static ProblemHttpResult QuotaUnavailable() =>
        Create(StatusCodes.Status503ServiceUnavailable, ErrorCodes.QuotaUnavailable, "Quota service unavailable",
            "The quota service cannot be reached right now; try again after Retry-After.");

    /// <summary>A request that no window of the tenant's plan could ever admit; nothing was stored or reserved.</summary>
    public static ProblemHttpResult RequestExceedsPlan(string detail, string limitName, long limit, long requested) =>
        Create(StatusCodes.Status400BadRequest, ErrorCodes.RequestExceedsPlan, "The request exceeds the plan", detail,
            new() { ["limit_name"] = limitName, ["limit"] = limit, ["requested"] = requested });

    public static ProblemHttpResult IdempotencyKeyInvalid(string detail) =>
        Create(StatusCodes.Status400BadRequest, ErrorCodes.IdempotencyKeyInvalid, "Invalid Idempotency-Key", detail);

    /// <summary>The tenant's key names <paramref name="inferenceId"/>, created by a submission that asked for something else.</summary>
    public static ProblemHttpResult IdempotencyKeyReused(Guid inferenceId) =>
        Create(StatusCodes.Status422UnprocessableEntity, ErrorCodes.IdempotencyKeyReused, "Idempotency-Key already used",
            "This Idempotency-Key was used in the last 24 hours for a submission with a different body or Cancel-After; nothing was created.",
            new() { ["inference_id"] = inferenceId });

    /// <summary>How long a client is asked to wait before trying again while a store is away.</summary>
    public static readonly TimeSpan RetryAfterOutage = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A store the request needs (the database, the broker) is away, so nothing was done: the client may try again after
    /// <c>Retry-After</c>. Never said of a request that was accepted.
    /// </summary>
    public static ProblemHttpResult Unavailable(HttpContext http, string detail)
    {
        ArgumentNullException.ThrowIfNull(http);
        http.Response.Headers.RetryAfter = ((int)RetryAfterOutage.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Create(StatusCodes.Status503ServiceUnavailable, "unavailable", "Temporarily unavailable", detail);
    }

    /// <summary>The request was stored and then failed before it was answered, for a reason other than quota.</summary>
    public static ProblemHttpResult Failed(string code, string detail, Guid inferenceId) =>
        Create(StatusCodes.Status503ServiceUnavailable, code, "Temporarily unavailable", detail,
            new() { ["inference_id"] = inferenceId });

    /// <summary>
    /// Writes the problem in the shape the route's clients read: OpenAI's error body on the OpenAI-compatible routes
    /// (<see cref="OpenAiErrors"/>), problem+json everywhere else. For problems written outside an endpoint's result.
    /// </summary>
    public static Task WriteAsync(this ProblemHttpResult problem, HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(problem);
        return OpenAiErrors.Serves(http) ? OpenAiErrors.From(problem.ProblemDetails).ExecuteAsync(http) : problem.ExecuteAsync(http);
    }

    /// <summary>
    /// Gives the problems the framework writes itself (routing's 404, 405 and 415, the exception handler's 500) the
    /// shape of ours, so that a client can switch on <c>code</c> for every error.
    /// </summary>
    public static void AddCodeToFrameworkProblems(ProblemDetailsContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var problem = context.ProblemDetails;
        if (problem.Extensions.ContainsKey("code"))
            return;

        // The endpoint declares that it accepts JSON, so routing itself refuses other media types before the endpoint runs.
        if (problem.Status == StatusCodes.Status415UnsupportedMediaType)
        {
            var ours = UnsupportedMediaType().ProblemDetails;
            (problem.Type, problem.Title, problem.Detail) = (ours.Type, ours.Title, ours.Detail);
            problem.Extensions["code"] = ours.Extensions["code"];
            return;
        }

        var code = CodeOf(problem.Status ?? StatusCodes.Status500InternalServerError);
        problem.Type = $"urn:inference:problem:{code}";
        problem.Detail ??= problem.Title;
        problem.Extensions["code"] = code;
    }

    private static string CodeOf(int status) =>
        ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase
            ? phrase.Replace(' ', '_').ToLowerInvariant()
            : string.Create(CultureInfo.InvariantCulture, $"http_{status}");

    private static ProblemHttpResult Create(int status, string code, string title, string detail,
        Dictionary<string, object?>? extensions = null)
    {
        extensions ??= [];
        extensions["code"] = code;
        return TypedResults.Problem(detail, statusCode: status, title: title, type: $"urn:inference:problem:{code}",
            extensions: extensions);
    }
}

/// <summary>One invalid field: where (a JSON path such as <c>input[2]</c>), a stable code, and a message.</summary>
public sealed record FieldError(string Field, string Code, string Message);
