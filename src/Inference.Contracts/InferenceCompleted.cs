namespace Inference.Contracts;

/// <summary>Published once when a request completes: its output is stored and its tokens are charged.</summary>
public sealed record InferenceCompleted
{
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }

    public required string Model { get; init; }

    /// <summary>The tokens charged.</summary>
    public required InferenceUsage Usage { get; init; }

    public required InferenceOutput Output { get; init; }

    public required DateTimeOffset SubmittedAt { get; init; }

    public required DateTimeOffset CompletedAt { get; init; }
}
