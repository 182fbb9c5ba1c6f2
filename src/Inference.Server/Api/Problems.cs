using Microsoft.AspNetCore.Http.HttpResults;

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

    public static ProblemHttpResult Validation(string code, string detail, IReadOnlyList<FieldError> errors) =>
        Create(StatusCodes.Status400BadRequest, code, "The request is not valid", detail, new() { ["errors"] = errors });

    public static ProblemHttpResult InferenceNotFound(string id) =>
        Create(StatusCodes.Status404NotFound, "inference_not_found", "No such inference", $"There is no inference '{id}'.");

    public static ProblemHttpResult QuotaExceeded(string detail, string? limit) =>
        Create(StatusCodes.Status429TooManyRequests, "quota_exceeded", "Quota exceeded", detail, new() { ["limit"] = limit });

    public static ProblemHttpResult Unavailable(string code, string detail) =>
        Create(StatusCodes.Status503ServiceUnavailable, code, "Temporarily unavailable", detail);

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
