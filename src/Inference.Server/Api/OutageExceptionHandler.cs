using Inference.Server.Resilience;
using Microsoft.AspNetCore.Diagnostics;

namespace Inference.Server.Api;

/// <summary>
/// Answers <c>503 unavailable</c> with <c>Retry-After</c>, instead of a 500, to any request that failed because a store
/// was away (a key lookup, a read, a write while PostgreSQL restarts). Nothing was changed, so the client may retry.
/// </summary>
internal sealed partial class OutageExceptionHandler(ILogger<OutageExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!TransientFailures.Is(exception) || httpContext.Response.HasStarted)
            return false;

        LogOutage(exception, httpContext.Request.Method, httpContext.Request.Path);
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        await Problems.Unavailable(httpContext, "A store this request needs is unavailable right now; nothing was changed.")
            .WriteAsync(httpContext).ConfigureAwait(false);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path} answered 503: a store it needs is unavailable.")]
    private partial void LogOutage(Exception exception, string method, string path);
}
