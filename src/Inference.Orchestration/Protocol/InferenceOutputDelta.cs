namespace Inference.Orchestration.Protocol;

/// <summary>
/// A piece of a text generation's output, published by the worker while it generates, only for a request run with
/// <see cref="RunInference.Stream"/>. Best effort: the pieces of one request, in <see cref="Sequence"/> order, add up to
/// a prefix of the final text; the final text arrives with <see cref="InferenceSucceeded"/> whatever was lost.
/// </summary>
public sealed record InferenceOutputDelta
{
    public required Guid InferenceId { get; init; }

    /// <summary>0 for the first piece of the request, then 1, 2, ...; a gap means a piece was lost.</summary>
    public required int Sequence { get; init; }

    public required string Text { get; init; }
}
