namespace Inference.Contracts;

/// <summary>Where to send the platform's public commands and requests.</summary>
/// <remarks>
/// Commands and requests go to the orchestrator's queue: <see cref="SubmitInference"/> (answered with
/// <see cref="InferenceAccepted"/> or <see cref="InferenceRejected"/>), <see cref="GetInferenceStatus"/> (answered with
/// <see cref="InferenceStatus"/> or <see cref="InferenceNotFound"/>) and <see cref="CancelInference"/> (answered with
/// <see cref="InferenceStatus"/>, <see cref="CancelInferenceRejected"/> or <see cref="InferenceNotFound"/>). Outcome
/// events (<see cref="InferenceCompleted"/>, <see cref="InferenceFailed"/>, <see cref="InferenceCanceled"/>) are
/// published: subscribe to them.
/// </remarks>
public static class InferenceEndpoints
{
    /// <summary>The orchestrator's queue name: the inference saga.</summary>
    public const string Orchestrator = "inference-saga";

    /// <summary>The orchestrator's address, for <c>GetSendEndpoint</c> or a request client.</summary>
    public static Uri OrchestratorAddress { get; } = new($"queue:{Orchestrator}");
}
