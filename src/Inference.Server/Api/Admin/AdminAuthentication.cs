using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api.Admin;

/// <summary>
/// The guard of the operators' API: <c>Authorization: Bearer &lt;Admin:Token&gt;</c>. With no token configured the
/// admin API is off and answers 404, as if it did not exist; a missing or wrong token is a 401 problem. A tenant's API
/// key never opens an admin route: only the configured token does, compared in constant time.
/// </summary>
public static partial class AdminAuthentication
{
    /// <summary>Says once, at start, that the admin API is off and how to turn it on: otherwise its 404s look like a
    /// missing feature.</summary>
    public static void LogWhenOff(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (string.IsNullOrEmpty(app.Services.GetRequiredService<IOptionsMonitor<AdminOptions>>().CurrentValue.Token))
            LogAdminOff(app.Logger);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Admin:Token is not set: the admin API (/admin/v1) is off and answers 404. Set Admin__Token=<a long random " +
                  "secret> to turn it on; 'admin ...' on the command line works without it (see docs/admin.md).")]
    private static partial void LogAdminOff(ILogger logger);

    /// <summary>Puts every endpoint of <paramref name="group"/> behind the admin token.</summary>
    public static RouteGroupBuilder RequireAdminToken(this RouteGroupBuilder group)
    {
        ArgumentNullException.ThrowIfNull(group);
        group.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var token = http.RequestServices.GetRequiredService<IOptionsMonitor<AdminOptions>>().CurrentValue.Token;
            if (string.IsNullOrEmpty(token))
                return Problems.ClientError(StatusCodes.Status404NotFound, "There is no such route.");
            if (!Presents(http.Request, token))
            {
                http.Response.Headers.WWWAuthenticate = "Bearer realm=\"admin\"";
                return AdminUnauthorized();
            }

            return await next(context).ConfigureAwait(false);
        });
        return group.WithMetadata(new AdminRouteMetadata());
    }

    private static bool Presents(HttpRequest request, string token)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return false;

        var presented = Encoding.UTF8.GetBytes(header[scheme.Length..].Trim());
        var expected = Encoding.UTF8.GetBytes(token);
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(presented), SHA256.HashData(expected));
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult AdminUnauthorized() =>
        TypedResults.Problem("Send the admin token as 'Authorization: Bearer <token>'.", statusCode: StatusCodes.Status401Unauthorized,
            title: "Admin authentication required", type: "urn:inference:problem:unauthorized",
            extensions: new Dictionary<string, object?> { ["code"] = "unauthorized" });
}

/// <summary>Marks a route as part of the admin API (for OpenAPI and for anyone reading the endpoint list).</summary>
public sealed class AdminRouteMetadata;
