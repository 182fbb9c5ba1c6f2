using Microsoft.AspNetCore.Http.Features;

namespace Inference.Server.Api;

/// <summary>What every server-sent events response of the API starts with.</summary>
internal static class EventStreamResponse
{
    public const string ContentType = "text/event-stream";

    /// <summary>Sets the status and headers of an event stream and turns response buffering off, so each event leaves at once.</summary>
    public static HttpResponse Prepare(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ContentType;
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // A proxy such as nginx would otherwise hold the events back.
        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        return response;
    }

    /// <summary>A token that ends the stream when the client goes away or the host stops, whichever comes first.</summary>
    public static CancellationTokenSource Ending(HttpContext httpContext, IHostApplicationLifetime lifetime) =>
        CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted, lifetime.ApplicationStopping);
}
