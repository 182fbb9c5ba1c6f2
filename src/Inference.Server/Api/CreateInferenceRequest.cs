using System.Text.Json;
using System.Text.Json.Serialization;
using FluentValidation;
using FluentValidation.Results;
using Inference.Orchestration;
using Inference.Server.Orchestration;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>
/// The body of <c>POST /v1/inferences</c>:
/// <c>{"model": "...", "input": "text" | ["text", ...], "parameters": {...}, "metadata": {...}}</c>.
/// </summary>
public sealed record CreateInferenceRequest
{
    // Read whole even when it holds an unpaired surrogate, so that an unknown model is always model_not_found.
    [JsonConverter(typeof(FaithfulJsonString.Converter))]
    public string? Model { get; init; }

    /// <summary>One string or an array of strings; kept raw so that a wrong shape gets a precise error.</summary>
    public JsonElement? Input { get; init; }

    /// <summary>
    /// The submitter's labels, <c>{"key": "value", ...}</c> (<see cref="MetadataRules"/>); kept raw so that a wrong shape, a
    /// repeated key or a key that is not text gets a precise error.
    /// </summary>
    public JsonElement? Metadata { get; init; }

    /// <summary>The metadata's keys and values as sent, or null when there is none; once the shape is accepted.</summary>
    public IReadOnlyList<KeyValuePair<string, string>>? MetadataEntries() =>
        Metadata is { ValueKind: JsonValueKind.Object } metadata
            ? [.. metadata.EnumerateObject().Select(p => KeyValuePair.Create(FaithfulJsonString.ReadName(p), FaithfulJsonString.Read(p.Value)))]
            : null;

    /// <summary>
    /// For a text-generation model, how to generate: <c>{"max_tokens", "temperature", "top_p", "seed", "stop"}</c>, each
    /// optional; kept raw so that a value of the wrong type names its field. An embedding model takes none.
    /// </summary>
    public JsonElement? Parameters { get; init; }

    /// <summary>
    /// For a text-generation model: <c>true</c> publishes the text in pieces as it is generated, as <c>output</c> events of
    /// <c>GET /v1/inferences/{id}/events</c>. Kept raw for precise errors.
    /// </summary>
    public JsonElement? Stream { get; init; }

    /// <summary>Where to send the request's events: an absolute http or https URL; kept raw for precise errors.</summary>
    public JsonElement? Webhook { get; init; }

    /// <summary>Which events go to <see cref="Webhook"/>: <c>["started", "completed"]</c> or a part of it.</summary>
    public JsonElement? WebhookEventsFilter { get; init; }

    /// <summary>The webhook URL as sent, or null when none was asked for.</summary>
    public string? WebhookUrl() =>
        Webhook is { ValueKind: JsonValueKind.String } url ? FaithfulJsonString.Read(url) : null;

    /// <summary>The stored form of the events filter, once the validator has accepted it.</summary>
    public string WebhookEvents() =>
        WebhookEventsFilter is { ValueKind: JsonValueKind.Array } filter
            ? Webhooks.WebhookEventTypes.Normalize(filter.EnumerateArray().Select(FaithfulJsonString.Read))
            : Webhooks.WebhookEventTypes.DefaultFilter;

    /// <summary>The inputs as a list, once <see cref="CreateInferenceRequestValidator"/> has accepted the shape.</summary>
    public IReadOnlyList<string> Inputs() =>
        Input is { ValueKind: JsonValueKind.String } single
            ? [FaithfulJsonString.Read(single)]
            : [.. Input!.Value.EnumerateArray().Select(FaithfulJsonString.Read)];
}

public sealed class CreateInferenceRequestValidator : AbstractValidator<CreateInferenceRequest>
{
    public CreateInferenceRequestValidator(IServedModels models, IOptions<ApiOptions> options, Webhooks.WebhookAddressGuard webhooks)
    {
        ArgumentNullException.ThrowIfNull(options);
        var maxCharacters = options.Value.MaxInputCharacters;
        var maxInputs = options.Value.MaxInputsPerRequest;

        RuleFor(x => x.Model)
            .Cascade(CascadeMode.Stop)
            .NotEmpty().WithErrorCode("model_required").WithMessage("'model' is required.")
            .Must(model => models.TryGet(model!, out _)).WithErrorCode(ErrorCodes.ModelNotFound)
            .WithMessage(x => $"Unknown model '{InputText.Printable(x.Model)}'. Known models: {string.Join(", ", models.Models.Select(m => m.Id))}.");

        RuleFor(x => x.Input)
            .Cascade(CascadeMode.Stop)
            .NotNull().WithErrorCode("input_required").WithMessage("'input' is required: a string or an array of strings.")
            .Must(BeStringOrArrayOfStrings).WithErrorCode("input_invalid").WithMessage("'input' must be a string or an array of strings.")
            .DependentRules(() =>
            {
                RuleFor(x => x.Inputs()).Cascade(CascadeMode.Stop).NotEmpty().OverridePropertyName("input").WithErrorCode(ErrorCodes.InputEmpty)
                    .WithMessage("'input' must hold at least one string.")
                    .Must(inputs => inputs.Count <= maxInputs).WithErrorCode("too_many_inputs")
                    .WithMessage(x => $"'input' holds {x.Inputs().Count} strings; at most {maxInputs} are accepted per request.");
                RuleFor(x => x.Input).Custom((_, context) =>
                {
                    var inputs = context.InstanceToValidate.Inputs();
                    for (var i = 0; i < inputs.Count; i++)
                    {
                        if (InputError(inputs[i], i, maxCharacters) is { } error)
                            context.AddFailure(error);
                    }
                });
            });

        RuleFor(x => x.Metadata).Custom(CheckMetadata);
        WebhookRules(webhooks);
    }

    /// <summary>Every rule the metadata breaks: its shape here, its keys and values in <see cref="MetadataRules"/>.</summary>
    private static void CheckMetadata(JsonElement? metadata, ValidationContext<CreateInferenceRequest> context)
    {
        if (metadata is not { } value || value.ValueKind == JsonValueKind.Null)
            return;
        if (value.ValueKind != JsonValueKind.Object)
        {
            context.AddFailure(new ValidationFailure("metadata", "'metadata' must be an object of string values.") { ErrorCode = ErrorCodes.MetadataInvalid });
            return;
        }

        // Counted first: a body can hold a hundred thousand keys, and the answer should not list an error for each.
        if (MetadataRules.TooManyKeys(value.GetPropertyCount()) is { } tooMany)
        {
            context.AddFailure(new ValidationFailure(tooMany.Field, tooMany.Message) { ErrorCode = tooMany.Code });
            return;
        }

        var notText = value.EnumerateObject().Where(p => p.Value.ValueKind != JsonValueKind.String).ToList();
        foreach (var property in notText)
        {
            var key = InputText.Printable(FaithfulJsonString.ReadName(property), MetadataRules.MaxKeyLength);
            context.AddFailure(new ValidationFailure($"metadata.{key}", $"The value of metadata key '{key}' must be a string.")
            {
                ErrorCode = ErrorCodes.MetadataInvalid,
            });
        }

        if (notText.Count > 0)
            return;
        foreach (var violation in MetadataRules.Check(context.InstanceToValidate.MetadataEntries()!))
            context.AddFailure(new ValidationFailure(violation.Field, violation.Message) { ErrorCode = violation.Code });
    }

    /// <summary>
    /// <c>webhook</c>: an absolute http(s) URL whose destination may receive webhooks (resolved and checked now, and
    /// again at every delivery); <c>webhook_events_filter</c>: a non-empty array of known event names.
    /// </summary>
    private void WebhookRules(Webhooks.WebhookAddressGuard webhooks)
    {
        RuleFor(x => x.Webhook)
            .CustomAsync(async (_, context, cancellationToken) =>
            {
                var uri = Webhooks.WebhookUrlRules.Parse(context.InstanceToValidate.WebhookUrl(), out var reason);
                if (uri is null)
                {
                    context.AddFailure(new ValidationFailure("webhook", reason) { ErrorCode = ErrorCodes.WebhookInvalid });
                    return;
                }

                if (await webhooks.CheckAsync(uri, cancellationToken).ConfigureAwait(false) is { } refusal)
                    context.AddFailure(new ValidationFailure("webhook", refusal) { ErrorCode = ErrorCodes.WebhookUrlNotAllowed });
            })
            .When(x => x.Webhook is { ValueKind: not JsonValueKind.Null });

        RuleFor(x => x.WebhookEventsFilter)
            .Must(filter => filter is { ValueKind: JsonValueKind.Array } array && array.GetArrayLength() > 0
                && array.EnumerateArray().All(name => name.ValueKind == JsonValueKind.String
                    && Webhooks.WebhookEventTypes.Filters.Contains(FaithfulJsonString.Read(name))))
            .OverridePropertyName("webhook_events_filter")
            .WithErrorCode(ErrorCodes.WebhookEventsFilterInvalid)
            .WithMessage($"'webhook_events_filter' must be a non-empty array of: {string.Join(", ", Webhooks.WebhookEventTypes.Filters)}.")
            .When(x => x.WebhookEventsFilter is { ValueKind: not JsonValueKind.Null });
    }

    /// <summary>
    /// The first rule one input breaks, if any. The characters come first: a control character that .NET counts as
    /// white space (U+0085, U+001C) is refused as what it is, not as an empty input.
    /// </summary>
    internal static ValidationFailure? InputError(string input, int index, int maxCharacters)
    {
        var field = $"input[{index}]";
        if (InputText.FindViolation(input, $"Input {index}") is { } violation)
            return new ValidationFailure(field, violation.Message) { ErrorCode = violation.Code };
        if (string.IsNullOrWhiteSpace(input))
            return new ValidationFailure(field, "Every input must be a non-empty string.") { ErrorCode = ErrorCodes.InputEmpty };
        if (input.Length > maxCharacters)
        {
            return new ValidationFailure(field, $"Input {index} has {input.Length} characters; at most {maxCharacters} are accepted.")
            {
                ErrorCode = ErrorCodes.InputTooLong,
            };
        }

        return null;
    }

    private static bool BeStringOrArrayOfStrings(JsonElement? input) =>
        input is { } value && (value.ValueKind == JsonValueKind.String
            || (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(item => item.ValueKind == JsonValueKind.String)));
}
