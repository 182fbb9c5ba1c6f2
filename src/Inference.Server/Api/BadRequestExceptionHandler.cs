using Inference.Orchestration;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>
/// Answers the exception by which the server reports a client's fault while the body is read
/// (<see cref="BadHttpRequestException"/>: too large, too slow, malformed framing) with the API's problem for it, instead
/// of the 500 that any other exception gets.
/// </summary>
internal sealed class BadRequestExceptionHandler(IOptions<ApiOptions> options) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException badRequest)
            return false;

        var problem = badRequest.StatusCode switch
        {
            // The only body read to its end is that of POST /v1/inferences, and its limit is this one (JsonRequestBody).
            StatusCodes.Status413PayloadTooLarge => Problems.PayloadTooLarge(options.Value.MaxRequestBodyBytes),
            StatusCodes.Status408RequestTimeout => Problems.RequestTimeout(),
            _ => Problems.ClientError(badRequest.StatusCode, InputText.Printable(badRequest.Message, 200)),
        };
        await problem.WriteAsync(httpContext).ConfigureAwait(false);
        return true;
    }
}
