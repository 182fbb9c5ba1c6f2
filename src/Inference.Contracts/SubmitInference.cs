namespace Inference.Contracts;

/// <summary>
/// Starts an inference. Sent to <see cref="InferenceEndpoints.Orchestrator"/>; answered with
/// <see cref="InferenceAccepted"/> or <see cref="InferenceRejected"/> when sent as a request.
/// </summary>
public sealed record SubmitInference
{
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }

    public required string Model { get; init; }

    public required IReadOnlyList<string> Inputs { get; init; }

    /// <summary>Token ids the model will be fed for all inputs together, counted by the model's tokenizer.</summary>
    public required int PromptTokens { get; init; }

    public required DateTimeOffset SubmittedAt { get; init; }
}
