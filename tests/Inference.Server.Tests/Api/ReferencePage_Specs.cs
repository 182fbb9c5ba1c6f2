using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Inference.Server.Tests.Api;

/// <summary>The interactive reference at <c>/docs</c>: anonymous, served whole by the app (no CDN), reading the document.</summary>
public sealed partial class When_a_person_opens_the_reference_page(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    [Fact]
    public async Task Should_answer_html_without_a_key_that_reads_the_openapi_document()
    {
        using var client = app.CreateClient();

        using var response = await client.GetAsync("/docs");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();
        // Scalar's script resolves the source against the app's base path (the page's path less /docs/), so a proxy
        // that serves the app under a prefix still finds the document.
        Assert.True(html.Contains("\"url\":\"openapi/v1.json\"", StringComparison.Ordinal), html);
        using var document = await client.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, document.StatusCode);
    }

    [Fact]
    public async Task Should_send_docs_to_docs_with_a_slash_so_that_its_relative_links_resolve()
    {
        using var client = app.App.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        using var response = await client.GetAsync("/docs");

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal(new Uri("http://localhost/docs/"), new Uri(new Uri("http://localhost/docs"), response.Headers.Location!));
    }

    [Fact]
    public async Task Should_serve_its_script_itself()
    {
        using var client = app.CreateClient();
        var html = await client.GetStringAsync("/docs");

        var scripts = ScriptSource().Matches(html).Select(m => m.Groups[1].Value).ToList();

        Assert.NotEmpty(scripts);
        foreach (var script in scripts)
        {
            Assert.False(Uri.TryCreate(script, UriKind.Absolute, out var absolute) && absolute.Scheme.StartsWith("http", StringComparison.Ordinal),
                $"The page loads {script} from elsewhere.");
            using var response = await client.GetAsync(new Uri(new Uri("http://localhost/docs/"), script));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{script}: {(int)response.StatusCode}");
        }
    }

    [GeneratedRegex("<script[^>]*\\bsrc=\"([^\"]+)\"")]
    private static partial Regex ScriptSource();
}
