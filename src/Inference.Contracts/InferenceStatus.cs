namespace Inference.Contracts;

/// <summary>
/// Reply to <see cref="GetInferenceStatus"/> and <see cref="CancelInference"/>: the facts <c>GET /v1/inferences/{id}</c>
/// shows, except the output.
/// </summary>
public sealed record InferenceStatus
{
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }

    public required string Model { get; init; }

    /// <summary>One of <see cref="InferenceStatusNames"/>: the REST API's <c>status</c>.</summary>
    public required string Status { get; init; }

    /// <summary>True for <c>completed</c>, <c>failed</c> and <c>canceled</c>: nothing will change any more.</summary>
    public required bool IsFinal { get; init; }

    /// <summary>Tokens charged once completed; zero when failed or canceled; while running, the prompt's tokens.</summary>
    public required InferenceUsage Usage { get; init; }

    public InferenceError? Error { get; init; }

    /// <summary>Every status the request entered, oldest first.</summary>
    public required IReadOnlyList<InferenceStatusChange> History { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public required DateTimeOffset UpdatedAt { get; init; }
}
