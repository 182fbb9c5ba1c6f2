using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Inference.Server.Tests.Api;
using Inference.Server.Tests.Infrastructure;

namespace Inference.Server.Tests.Admin;

/// <summary>Every tenant and key route of the admin API, for the specs that hold each to the admin token.</summary>
public static class AdminRoutes
{
    public static TheoryData<string, string> All { get; } = new()
    {
        { "POST", "/admin/v1/tenants" },
        { "GET", "/admin/v1/tenants" },
        { "GET", "/admin/v1/tenants/dev" },
        { "PUT", "/admin/v1/tenants/dev/plan" },
        { "POST", "/admin/v1/tenants/dev/disable" },
        { "POST", "/admin/v1/tenants/dev/enable" },
        { "POST", "/admin/v1/tenants/dev/keys" },
        { "GET", "/admin/v1/tenants/dev/keys" },
        { "DELETE", "/admin/v1/tenants/dev/keys/00000000-0000-0000-0000-000000000001" },
    };

    public static HttpRequestMessage Request(string method, string path) => new(new HttpMethod(method), path)
    {
        Content = new StringContent("""{"id":"never-created"}""", Encoding.UTF8, "application/json"),
    };
}

/// <summary>Only the operator token opens the admin routes; nothing is done for anyone else.</summary>
public sealed class When_someone_without_the_admin_token_calls_the_admin_api(AdminApp app) : IClassFixture<AdminApp>
{
    [Theory]
    [MemberData(nameof(AdminRoutes.All), MemberType = typeof(AdminRoutes))]
    public async Task Should_answer_401_without_a_token_with_a_wrong_one_and_with_a_tenants_key(string method, string path)
    {
        foreach (var authorization in new AuthenticationHeaderValue?[]
                 {
                     null,
                     new("Bearer", "not-the-admin-token"),
                     new("Bearer", InferenceAppFactory.ApiKey), // the dev tenant's valid key
                     new("Basic", AdminSettings.Token),
                 })
        {
            using var client = app.CreateClient();
            client.DefaultRequestHeaders.Authorization = authorization;
            using var request = AdminRoutes.Request(method, path);

            using var response = await client.SendAsync(request);

            await response.AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        }

        // Nothing was done: the tenant the bodies name does not exist, and dev is as seeded.
        using var admin = app.AdminClient();
        using var created = await admin.GetAsync("/admin/v1/tenants/never-created");
        Assert.Equal(HttpStatusCode.NotFound, created.StatusCode);
        using var dev = await admin.GetAsync("/admin/v1/tenants/dev");
        Assert.Contains("\"disabled\":false", await dev.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}

/// <summary>With <c>Admin:Token</c> unset the admin API is off: its routes answer 404, as if they did not exist.</summary>
public sealed class When_the_admin_token_is_not_set(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    [Theory]
    [MemberData(nameof(AdminRoutes.All), MemberType = typeof(AdminRoutes))]
    public async Task Should_answer_404_to_every_admin_route_whatever_is_presented(string method, string path)
    {
        foreach (var token in new[] { null, AdminSettings.Token, InferenceAppFactory.ApiKey, string.Empty })
        {
            using var client = app.CreateClient();
            if (token is not null)
                client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", $"Bearer {token}");
            using var request = AdminRoutes.Request(method, path);

            using var response = await client.SendAsync(request);

            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }
}
