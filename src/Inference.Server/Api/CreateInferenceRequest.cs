using System.Text.Json;
using FluentValidation;
using Inference.Engine;

namespace Inference.Server.Api;

/// <summary>The body of <c>POST /v1/inferences</c>: <c>{"model": "...", "input": "text" | ["text", ...]}</c>.</summary>
public sealed record CreateInferenceRequest
{
    public string? Model { get; init; }

    /// <summary>One string or an array of strings; kept raw so that a wrong shape gets a precise error.</summary>
    public JsonElement? Input { get; init; }

    /// <summary>The inputs as a list, once <see cref="CreateInferenceRequestValidator"/> has accepted the shape.</summary>
    public IReadOnlyList<string> Inputs() =>
        Input is { ValueKind: JsonValueKind.String } single
            ? [single.GetString()!]
            : [.. Input!.Value.EnumerateArray().Select(item => item.GetString()!)];
}

public sealed class CreateInferenceRequestValidator : AbstractValidator<CreateInferenceRequest>
{
    /// <summary>Inputs one request may carry; larger jobs are split by the client.</summary>
    public const int MaxInputs = 2048;

    public CreateInferenceRequestValidator(ModelCatalog models)
    {
        RuleFor(x => x.Model)
            .Cascade(CascadeMode.Stop)
            .NotEmpty().WithErrorCode("model_required").WithMessage("'model' is required.")
            .Must(model => models.TryGet(model!, out _)).WithErrorCode("model_not_found")
            .WithMessage(x => $"Unknown model '{x.Model}'. Known models: {string.Join(", ", models.Models.Select(m => m.Id))}.");

        RuleFor(x => x.Input)
            .Cascade(CascadeMode.Stop)
            .NotNull().WithErrorCode("input_required").WithMessage("'input' is required: a string or an array of strings.")
            .Must(BeStringOrArrayOfStrings).WithErrorCode("input_invalid").WithMessage("'input' must be a string or an array of strings.")
            .DependentRules(() =>
            {
                RuleFor(x => x.Inputs()).Cascade(CascadeMode.Stop).NotEmpty().OverridePropertyName("input").WithErrorCode("input_empty")
                    .WithMessage("'input' must hold at least one string.")
                    .Must(inputs => inputs.Count <= MaxInputs).WithErrorCode("too_many_inputs")
                    .WithMessage(x => $"'input' holds {x.Inputs().Count} strings; at most {MaxInputs} are accepted per request.");
                RuleForEach(x => x.Inputs()).NotEmpty().OverridePropertyName("input").WithErrorCode("input_empty")
                    .WithMessage("Every input must be a non-empty string.");
            });
    }

    private static bool BeStringOrArrayOfStrings(JsonElement? input) =>
        input is { } value && (value.ValueKind == JsonValueKind.String
            || (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(item => item.ValueKind == JsonValueKind.String)));
}
