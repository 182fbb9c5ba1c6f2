using Inference.Contracts;

namespace Inference.Testing;

/// <summary>How a request ended: exactly one of <see cref="Completed"/>, <see cref="Failed"/> and <see cref="Canceled"/>
/// is set, the event the platform published.</summary>
public sealed record InferenceOutcome
{
    public required Guid InferenceId { get; init; }

    public InferenceCompleted? Completed { get; init; }

    public InferenceFailed? Failed { get; init; }

    public InferenceCanceled? Canceled { get; init; }

    /// <summary>The final status, one of <see cref="InferenceStatusNames"/>: <c>completed</c>, <c>failed</c> or <c>canceled</c>.</summary>
    public string Status => Completed is not null ? InferenceStatusNames.Completed
        : Failed is not null ? InferenceStatusNames.Failed
        : InferenceStatusNames.Canceled;

    /// <summary>The error code of a failure or the reason of a cancel; null for a completion.</summary>
    public string? Code => Failed?.Error.Code ?? Canceled?.Reason.Code;
}
