namespace Inference.Server.Api;

/// <summary>Body of the <c>202 Accepted</c> answer to <c>POST /v1/inferences</c>.</summary>
public sealed record InferenceAcceptedResponse(
    Guid Id,
    string Status,
    string Model,
    DateTimeOffset CreatedAt,
    ReservedUsageResponse Usage,
    InferenceUrlsResponse Urls);

public sealed record ReservedUsageResponse(long ReservedTokens);

/// <summary>Where to read the request (<c>get</c>) and to cancel it (<c>cancel</c>, a <c>POST</c>).</summary>
public sealed record InferenceUrlsResponse(string Get, string Cancel);

/// <summary>Body of <c>GET /v1/inferences/{id}</c>: the request's saga as a client sees it.</summary>
public sealed record InferenceResponse(
    Guid Id,
    string Status,
    string Model,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    UsageResponse Usage,
    OutputResponse? Output,
    ErrorResponse? Error,
    IReadOnlyList<HistoryEntryResponse> History);

public sealed record UsageResponse(int PromptTokens, int CompletionTokens, int TotalTokens);

public sealed record OutputResponse(IReadOnlyList<float[]> Embeddings);

public sealed record ErrorResponse(string Code, string Message);

public sealed record HistoryEntryResponse(string Status, DateTimeOffset At);
