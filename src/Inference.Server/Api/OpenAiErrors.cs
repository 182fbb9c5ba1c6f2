using Inference.Orchestration;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Inference.Server.Api;

/// <summary>
/// The error body of the OpenAI-compatible routes, as OpenAI's clients read it:
/// <c>{"error": {"message", "type", "param", "code"}}</c>, with the same HTTP statuses and the same stable codes as the
/// API's problem+json elsewhere (<see cref="Problems"/>), so that official clients work unchanged.
/// </summary>
public static class OpenAiErrors
{
    /// <summary>OpenAI's type for a request the client can fix: a bad key, an unknown model, a bad field.</summary>
    public const string InvalidRequest = "invalid_request_error";

    /// <summary>OpenAI's type for a refusal that waiting can cure.</summary>
    public const string RateLimitExceeded = "rate_limit_exceeded";

    /// <summary>OpenAI's type for a fault of the server.</summary>
    public const string ServerError = "server_error";

    /// <summary>
    /// Registers what <see cref="MapOpenAiGroup"/> needs. Call it before <c>AddProblemDetails</c>: the writer for the
    /// OpenAI-compatible routes must come before the default one, which would take their problems too.
    /// </summary>
    public static IServiceCollection AddOpenAiErrors(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton<OpenAiRoutes>();
        services.AddSingleton<IProblemDetailsWriter, OpenAiProblemDetailsWriter>();
        return services;
    }

    /// <summary>
    /// Maps a route group whose every error, the framework's included (no such route, method not allowed, the
    /// authentication challenge, the concurrency limit, an outage), is written in OpenAI's shape: the routes under
    /// <paramref name="prefix"/> are OpenAI-compatible. Handlers may return <see cref="Problems"/>' results as elsewhere.
    /// </summary>
    public static RouteGroupBuilder MapOpenAiGroup(this IEndpointRouteBuilder app, string prefix)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.ServiceProvider.GetRequiredService<OpenAiRoutes>().Add(prefix);
        var group = app.MapGroup(prefix);
        group.AddEndpointFilter(async (context, next) =>
        {
            var result = await next(context).ConfigureAwait(false);
            return ProblemOf(result) is { } problem ? From(problem) : result;
        });
        return group;
    }

    /// <summary>Whether the request is to an OpenAI-compatible route, and so gets OpenAI's error body.</summary>
    public static bool Serves(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        return http.RequestServices.GetService<OpenAiRoutes>()?.Serves(http.Request.Path) == true;
    }

    /// <summary>OpenAI's answer to a model id it does not know: <c>404</c>, <c>model_not_found</c>, the parameter <c>model</c>.</summary>
    public static NotFound<OpenAiErrorResponse> ModelNotFound(string id) =>
        TypedResults.NotFound(new OpenAiErrorResponse(new OpenAiError(
            $"The model '{InputText.Printable(id)}' does not exist.", InvalidRequest, "model", ErrorCodes.ModelNotFound)));

    /// <summary>The same error as <paramref name="problem"/>, in OpenAI's shape and with its status.</summary>
    public static JsonHttpResult<OpenAiErrorResponse> From(ProblemDetails problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var status = problem.Status ?? StatusCodes.Status500InternalServerError;
        var code = problem.Extensions.TryGetValue("code", out var value) ? value as string : null;
        // A validation problem names its fields; OpenAI names the first in `param`.
        var param = problem.Extensions.TryGetValue("errors", out var errors) && errors is IReadOnlyList<FieldError> { Count: > 0 } fields
            ? fields[0].Field
            : null;
        var error = new OpenAiError(problem.Detail ?? problem.Title ?? "The request failed.", TypeOf(status), param, CodeOf(code));
        return TypedResults.Json(new OpenAiErrorResponse(error), statusCode: status);
    }

    private static string TypeOf(int status) => status switch
    {
        StatusCodes.Status429TooManyRequests => RateLimitExceeded,
        >= StatusCodes.Status500InternalServerError => ServerError,
        // OpenAI answers a bad API key (401) with this type too.
        _ => InvalidRequest,
    };

    // OpenAI's code for a missing, unknown or revoked key, which our problems call `unauthorized`.
    private static string? CodeOf(string? code) => code == "unauthorized" ? "invalid_api_key" : code;

    private static ProblemDetails? ProblemOf(object? result) => result switch
    {
        ProblemHttpResult problem => problem.ProblemDetails,
        INestedHttpResult { Result: ProblemHttpResult problem } => problem.ProblemDetails,
        _ => null,
    };
}

/// <summary>OpenAI's error body.</summary>
public sealed record OpenAiErrorResponse(OpenAiError Error);

/// <summary>One error as OpenAI reports it.</summary>
/// <param name="Message">For people; may change.</param>
/// <param name="Type"><c>invalid_request_error</c>, <c>rate_limit_exceeded</c> or <c>server_error</c>.</param>
/// <param name="Param">The request parameter at fault, or <see langword="null"/>.</param>
/// <param name="Code">The API's stable code, e.g. <c>model_not_found</c>; <c>invalid_api_key</c> for a 401.</param>
public sealed record OpenAiError(string Message, string Type, string? Param, string? Code);

/// <summary>The path prefixes of the OpenAI-compatible route groups, filled as they are mapped.</summary>
internal sealed class OpenAiRoutes
{
    private readonly Lock _lock = new();
    private PathString[] _prefixes = [];

    public void Add(PathString prefix)
    {
        lock (_lock)
            _prefixes = [.. _prefixes, prefix];
    }

    public bool Serves(PathString path) => Array.Exists(Volatile.Read(ref _prefixes), path.StartsWithSegments);
}

/// <summary>
/// Writes the problems the framework reports on the OpenAI-compatible routes (no such route, method not allowed, an
/// unhandled exception) in OpenAI's shape; registered before the default writer, which takes every other route.
/// </summary>
internal sealed class OpenAiProblemDetailsWriter : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => OpenAiErrors.Serves(context.HttpContext);

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        // Gives the framework's problem the code it has on every other route, before it changes shape.
        context.ProblemDetails.Status ??= context.HttpContext.Response.StatusCode;
        Problems.AddCodeToFrameworkProblems(context);
        return new ValueTask(OpenAiErrors.From(context.ProblemDetails).ExecuteAsync(context.HttpContext));
    }
}
