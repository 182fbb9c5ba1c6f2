namespace Inference.Contracts;

/// <summary>Why a request failed or was canceled: a stable code (the REST API's <c>error.code</c>) and a sentence.</summary>
public sealed record InferenceError
{
    public required string Code { get; init; }

    public required string Message { get; init; }
}
