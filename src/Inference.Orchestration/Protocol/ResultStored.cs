using Inference.Contracts;

namespace Inference.Orchestration.Protocol;

/// <summary>A request's output is stored; the saga completes it and publishes <see cref="InferenceCompleted"/> with it.</summary>
public sealed record ResultStored
{
    public required Guid InferenceId { get; init; }

    /// <summary>The output as stored: the first one, when the work ran more than once.</summary>
    public InferenceOutput? Output { get; init; }
}
