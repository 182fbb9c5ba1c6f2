using System.Net;
using System.Text.Json;
using Inference.Server.Api;
using Inference.Server.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

/// <summary>
/// What a later OpenAI-compatible route (e.g. <c>POST /v1/embeddings</c>) gets by being mapped as the models are: its
/// handler's problems and its unhandled faults in OpenAI's shape. A bare app, since no such route exists yet.
/// </summary>
public sealed class When_a_route_mapped_beside_the_models_fails
{
    [Fact]
    public async Task Should_answer_its_handlers_problems_and_its_faults_in_openais_shape()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddOpenAiErrors();
        builder.Services.AddProblemDetails(problems => problems.CustomizeProblemDetails = Problems.AddCodeToFrameworkProblems);
        await using var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        var group = app.MapOpenAiGroup("/v1/things");
        group.MapPost("/", Results<Ok, ProblemHttpResult> () => Problems.Validation("input_empty", "Input 0 is empty.",
            [new FieldError("input[0]", "input_empty", "Input 0 is empty.")]));
        group.MapGet("/", IResult () => throw new InvalidOperationException("A fault no handler expects."));
        app.MapGet("/v1/other", () => Problems.InferenceNotFound("x"));
        await app.StartAsync();
        using var client = app.GetTestClient();

        using var invalid = await client.PostAsync("/v1/things", null);
        using var fault = await client.GetAsync("/v1/things");
        using var elsewhere = await client.GetAsync("/v1/other");

        var error = await invalid.AssertOpenAiErrorAsync(HttpStatusCode.BadRequest, "input_empty", "invalid_request_error");
        Assert.Equal(("input[0]", "Input 0 is empty."), (error.GetProperty("param").GetString(), error.GetProperty("message").GetString()));
        error = await fault.AssertOpenAiErrorAsync(HttpStatusCode.InternalServerError, "internal_server_error", "server_error");
        Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        await elsewhere.AssertProblemAsync(HttpStatusCode.NotFound, "inference_not_found");
    }
}
