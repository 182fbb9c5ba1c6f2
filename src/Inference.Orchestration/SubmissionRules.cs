using Inference.Contracts;

namespace Inference.Orchestration;

/// <summary>
/// What a <see cref="SubmitInference"/> from the bus must hold before the saga stores it: the same text rule and input
/// limits as a REST submission (which the API checks itself), plus what the API fills in for its own requests (an id,
/// a tenant). What needs the host (the tenant, the model, the tokens) is <see cref="ISubmissionGate"/>'s. A refused
/// submission is answered with the REST error code and is never stored, reserved or charged.
/// </summary>
public static class SubmissionRules
{
    /// <summary>
    /// Inputs one request may carry, whatever its way in; larger jobs are split by the client. The REST API holds its
    /// clients to a lower limit of its own (<c>Api:MaxInputsPerRequest</c>, 128 by default, at most this).
    /// </summary>
    public const int MaxInputs = 2048;

    /// <summary>
    /// The most characters (UTF-16 code units) one input may hold: the REST API's default <c>Api:MaxInputCharacters</c>.
    /// The model's token limit alone does not bound an input (a long word is one unknown token).
    /// </summary>
    public const int MaxInputCharacters = 100_000;

    /// <summary>
    /// The most characters all inputs of one request may hold together: what a REST body of 8 MiB can carry (the REST
    /// default is 1 MiB). The row and the work message hold the inputs whole, so this bounds what one submission costs
    /// the store and the broker.
    /// </summary>
    public const int MaxTotalCharacters = 8 * 1024 * 1024;

    /// <summary>The longest tenant id and model id the store keeps.</summary>
    public const int MaxTenantIdLength = 64;

    public const int MaxModelLength = 128;

    /// <summary>Why <paramref name="submission"/> cannot be stored and run, or null when it can.</summary>
    /// <param name="submission">The submission.</param>
    /// <param name="maxDeadline">The platform's deadline, which a submitter's <c>CancelAfter</c> may only shorten.</param>
    public static SubmissionRefusal? Check(SubmitInference submission, TimeSpan maxDeadline)
    {
        ArgumentNullException.ThrowIfNull(submission);
        if (submission.InferenceId == Guid.Empty)
            return new("inference_id_required", "'InferenceId' must be set to a new, non-empty id.");

        if (Text(submission.TenantId, "'TenantId'", MaxTenantIdLength, "tenant_required", "tenant_invalid") is { } tenant)
            return tenant;
        if (Text(submission.Model, "'Model'", MaxModelLength, "model_required", "model_not_found") is { } model)
            return model;

        if (submission.Inputs is null)
            return new("input_required", "'Inputs' is required: a list of strings.");
        if (submission.Inputs.Count == 0)
            return new("input_empty", "'Inputs' must hold at least one string.");
        if (submission.Inputs.Count > MaxInputs)
            return new("too_many_inputs", $"'Inputs' holds {submission.Inputs.Count} strings; at most {MaxInputs} are accepted per request.");

        long total = 0;
        for (var i = 0; i < submission.Inputs.Count; i++)
        {
            var input = submission.Inputs[i];
            if (input is not null && InputText.FindViolation(input, $"Input {i}") is { } violation)
                return new(violation.Code, violation.Message);
            if (string.IsNullOrWhiteSpace(input))
                return new(ErrorCodes.InputEmpty, $"Input {i} must be a non-empty string.");
            if (input.Length > MaxInputCharacters)
                return new(ErrorCodes.InputTooLong, $"Input {i} has {input.Length} characters; at most {MaxInputCharacters} are accepted.");
            if ((total += input.Length) > MaxTotalCharacters)
                return new("payload_too_large", $"The inputs hold more than {MaxTotalCharacters} characters together; split the request.");
        }

        return submission.CancelAfter is { } cancelAfter ? CheckCancelAfter(cancelAfter, maxDeadline, "'CancelAfter'") : null;
    }

    /// <summary>Why a submitter's deadline cannot be kept, or null when it can: at least one second, at most
    /// <paramref name="maxDeadline"/>.</summary>
    public static SubmissionRefusal? CheckCancelAfter(TimeSpan cancelAfter, TimeSpan maxDeadline, string name)
    {
        if (cancelAfter < TimeSpan.FromSeconds(1))
            return new(ErrorCodes.CancelAfterInvalid, $"{name} must be at least one second.");
        return cancelAfter > maxDeadline
            ? new(ErrorCodes.CancelAfterTooLong,
                $"{name} of {cancelAfter.TotalSeconds:0} seconds is longer than the platform's deadline of {maxDeadline.TotalSeconds:0} seconds.")
            : null;
    }

    private static SubmissionRefusal? Text(string? value, string name, int maxLength, string missing, string invalid)
    {
        if (string.IsNullOrWhiteSpace(value))
            return new(missing, $"{name} is required.");
        if (InputText.FindViolation(value, name) is { } violation)
            return new(violation.Code, violation.Message);
        return value.Length > maxLength
            ? new(invalid, $"{name} '{InputText.Printable(value, 20)}' has {value.Length} characters; at most {maxLength} are accepted.")
            : null;
    }
}

/// <summary>Why a submission was refused: a REST error code and a sentence for the submitter.</summary>
public sealed record SubmissionRefusal(string Code, string Message);
