using System.Text.Json.Serialization;
using Inference.Orchestration;

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
    IReadOnlyList<HistoryEntryResponse> History,
    [property: JsonConverter(typeof(InferenceMetadata.Converter))] IReadOnlyDictionary<string, string>? Metadata)
{
    /// <summary>How the request's webhook deliveries stand; absent when the request has no webhook.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Webhooks.WebhookStatusResponse? Webhook { get; init; }
}

/// <summary>One request in <c>GET /v1/inferences</c>: <see cref="InferenceResponse"/> without its output.</summary>
public sealed record InferenceListItemResponse(
    Guid Id,
    string Status,
    string Model,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    UsageResponse Usage,
    ErrorResponse? Error,
    IReadOnlyList<HistoryEntryResponse> History,
    [property: JsonConverter(typeof(InferenceMetadata.Converter))] IReadOnlyDictionary<string, string>? Metadata);

/// <summary>Body of <c>GET /v1/inferences</c>: a page of the tenant's requests, newest first, and where the next page
/// starts (null on the last page).</summary>
public sealed record InferenceListResponse(IReadOnlyList<InferenceListItemResponse> Data, string? NextCursor);

public sealed record UsageResponse(int PromptTokens, int CompletionTokens, int TotalTokens);

/// <summary>
/// A completed request's output: an embedding model's <c>embeddings</c>, one per input in input order, or a
/// text-generation model's <c>text</c> and <c>finish_reason</c>.
/// </summary>
public sealed record OutputResponse
{
    /// <summary>An embedding model's vectors, one per input, in input order.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<float[]>? Embeddings { get; init; }

    /// <summary>The generated text, without the prompt and without the stop string that ended it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Text { get; init; }

    /// <summary><c>stop</c> (a stop string or the end-of-sequence token) or <c>length</c> (<c>max_tokens</c> reached).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? FinishReason { get; init; }
}

public sealed record ErrorResponse(string Code, string Message);

public sealed record HistoryEntryResponse(string Status, DateTimeOffset At);

/// <summary>A saga as a client sees it, for the single read and for the list alike.</summary>
internal static class InferenceView
{
    public static InferenceListItemResponse Item(InferenceState saga) => new(
        saga.CorrelationId,
        InferenceStates.ToApi(saga.CurrentState),
        saga.Model,
        saga.CreatedAt,
        saga.UpdatedAt,
        Usage(saga),
        saga.ErrorCode is null ? null : new ErrorResponse(saga.ErrorCode, saga.ErrorMessage ?? saga.ErrorCode),
        [.. saga.History.Select(h => new HistoryEntryResponse(InferenceStates.ToApi(h.State), h.At))],
        saga.Metadata);

    public static InferenceResponse WithOutput(InferenceListItemResponse item, OutputResponse? output) => new(
        item.Id, item.Status, item.Model, item.CreatedAt, item.UpdatedAt, item.Usage, output, item.Error, item.History, item.Metadata);

    /// <summary>Tokens the request is charged for: what it used once completed, nothing if it failed or was canceled
    /// (its reservation was given back), and while it runs the prompt tokens counted so far.</summary>
    private static UsageResponse Usage(InferenceState saga) =>
        saga.CurrentState is InferenceStates.Failed or InferenceStates.Canceled
            ? new UsageResponse(0, 0, 0)
            : new UsageResponse(saga.PromptTokens, saga.CompletionTokens, saga.PromptTokens + saga.CompletionTokens);
}
