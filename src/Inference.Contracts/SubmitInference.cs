namespace Inference.Contracts;

/// <summary>
/// Starts an inference. Send it to <see cref="InferenceEndpoints.OrchestratorAddress"/>; as a request, it is answered
/// with <see cref="InferenceAccepted"/> once quota is reserved, or <see cref="InferenceRejected"/>. Either way the request
/// ends with one published outcome: <see cref="InferenceCompleted"/>, <see cref="InferenceFailed"/> (also for a
/// submission refused at the door, with the REST API's error code) or <see cref="InferenceCanceled"/>.
/// </summary>
/// <remarks>
/// The platform counts the tokens it charges for with the model's own tokenizer; the submitter does not. The tenant
/// must exist and be enabled, and the inputs pass the same rules as a REST submission.
/// </remarks>
public sealed record SubmitInference
{
    /// <summary>A new id, chosen by the submitter (for example <c>NewId.NextGuid()</c>); a second submission with the
    /// same id is ignored.</summary>
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }

    /// <summary>A model the platform serves, such as <c>all-minilm-l6-v2</c>.</summary>
    public required string Model { get; init; }

    /// <summary>The texts to run the model on, in order: at least one, each non-empty.</summary>
    public required IReadOnlyList<string> Inputs { get; init; }

    /// <summary>When the submitter made the request, from which its deadlines count; the platform's clock when absent
    /// or later than the platform's clock.</summary>
    public DateTimeOffset? SubmittedAt { get; init; }

    /// <summary>For a text-generation model: how to generate (a single input only). Null: the model's defaults.</summary>
    public GenerationParameters? Parameters { get; init; }

    /// <summary>
    /// The submitter's own deadline, shorter than the platform's: when it passes, the request ends
    /// <see cref="InferenceCanceled"/> with reason <c>cancel_after_elapsed</c>. At least one second; null: the
    /// platform's deadline only.
    /// </summary>
    public TimeSpan? CancelAfter { get; init; }
}
