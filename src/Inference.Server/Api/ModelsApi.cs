using Inference.Engine;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Inference.Server.Api;

/// <summary>
/// <c>/v1/models</c>: the models this platform serves, with OpenAI's fields (so OpenAI's clients list them unchanged)
/// beside ours. OpenAI-compatible: its errors are OpenAI's (<see cref="OpenAiErrors"/>).
/// </summary>
public static class ModelsApi
{
    public static RouteGroupBuilder MapModelsApiV1(this IEndpointRouteBuilder app)
    {
        var group = app.MapOpenAiGroup("/v1/models").RequireAuthorization().RequireRateLimiting(ApiExtensions.ConcurrencyPolicy)
            .WithTags("Models")
            .ProducesOpenAiErrors(StatusCodes.Status401Unauthorized, StatusCodes.Status503ServiceUnavailable);

        group.MapGet("/", List)
            .WithName("ListModels")
            .WithDocs("List models",
                "Every model this platform serves, with OpenAI's fields (`id`, `object`, `created`, `owned_by`) beside ours " +
                "(`task`, `max_input_tokens`, `max_output_tokens`, `dimensions`, `device`). Errors are OpenAI's body; a bad key is " +
                "`401 invalid_api_key`.");
        group.MapGet("/{id}", Get)
            .WithName("GetModel")
            .WithDocs("Read a model",
                "One model by its id, as in the list. An unknown id is `404` with OpenAI's body and the code `model_not_found`.")
            .WithParameterDocs("id", "A model id exactly as the list gives it, e.g. `all-minilm-l6-v2`; case-sensitive.")
            .ProducesOpenAiErrors(StatusCodes.Status404NotFound);

        return group;
    }

    // Every tenant is served every model, so the list does not depend on the caller.
    internal static Ok<ModelListResponse> List(ModelCatalog models) =>
        TypedResults.Ok(new ModelListResponse("list", [.. models.Models.Select(ModelResponse.Of)]));

    internal static Results<Ok<ModelResponse>, NotFound<OpenAiErrorResponse>> Get(string id, ModelCatalog models) =>
        models.TryDescribe(id, out var model) ? TypedResults.Ok(ModelResponse.Of(model)) : OpenAiErrors.ModelNotFound(id);
}

/// <summary>OpenAI's list of models: <c>object</c> is always <c>list</c>.</summary>
public sealed record ModelListResponse(string Object, IReadOnlyList<ModelResponse> Data);

/// <summary>One model: OpenAI's fields (<c>id</c>, <c>object</c>, <c>created</c>, <c>owned_by</c>), then ours.</summary>
/// <param name="Id">The id requests name.</param>
/// <param name="Object">Always <c>model</c>.</param>
/// <param name="Created">When the model was published, in Unix seconds: fixed per model, the same on every replica.</param>
/// <param name="OwnedBy">The model's publisher.</param>
/// <param name="Task">What the model does: <c>embedding</c> or <c>text-generation</c>.</param>
/// <param name="MaxInputTokens">The most tokens one input (or prompt) may have, special tokens included.</param>
/// <param name="MaxOutputTokens">The most tokens one generation may add; <see langword="null"/> for a model that does not generate.</param>
/// <param name="Dimensions">The length of each embedding; <see langword="null"/> for a model that does not embed.</param>
/// <param name="Device">
/// Where the model runs in this process: <c>cpu</c> or <c>cuda</c>; a model configured for <c>cuda</c> whose GPU provider
/// cannot load says <c>cpu</c>.
/// </param>
public sealed record ModelResponse(
    string Id, string Object, long Created, string OwnedBy, string Task, int MaxInputTokens, int? MaxOutputTokens,
    int? Dimensions, string Device)
{
    internal static ModelResponse Of(ModelDescriptor model) => new(
        model.Id, "model", model.Published.ToUnixTimeSeconds(), model.Publisher, model.Task, model.MaxInputTokens,
        model.MaxOutputTokens, model.Dimensions, model.Device);
}
