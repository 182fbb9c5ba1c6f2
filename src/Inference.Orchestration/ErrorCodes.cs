namespace Inference.Orchestration;

/// <summary>Stable codes a failed or canceled request reports in <c>error.code</c>.</summary>
public static class ErrorCodes
{
    /// <summary>The tenant's requests per minute are used up (<c>requests_per_minute</c>).</summary>
    public const string RateLimitRequests = "rate_limit_requests";

    /// <summary>The tenant's tokens per minute are used up (<c>tokens_per_minute</c>).</summary>
    public const string RateLimitTokens = "rate_limit_tokens";

    /// <summary>The tenant's tokens per UTC day are used up (<c>tokens_per_day</c>).</summary>
    public const string QuotaDailyTokens = "quota_daily_tokens";

    /// <summary>The tenant's tokens per UTC month are used up (<c>tokens_per_month</c>).</summary>
    public const string QuotaMonthlyTokens = "quota_monthly_tokens";

    /// <summary>The tenant has as many unfinished requests as its plan allows (<c>max_concurrent</c>).</summary>
    public const string ConcurrencyLimit = "concurrency_limit";

    /// <summary>A request no window of the tenant's plan could ever admit: more tokens than its smallest token limit, or
    /// more inputs than <c>max_inputs_per_request</c>. Refused at the door; nothing is stored or reserved.</summary>
    public const string RequestExceedsPlan = "request_exceeds_plan";

    public const string QuotaUnavailable = "quota_unavailable";
    public const string InferenceFailed = "inference_failed";
    public const string ResultStoreFailed = "result_store_failed";
    public const string DeadlineExceeded = "deadline_exceeded";

    /// <summary>Canceled by <c>CancelInference</c> or <c>POST /v1/inferences/{id}/cancel</c>.</summary>
    public const string Canceled = "canceled";

    /// <summary>Canceled because the submitter's <c>Cancel-After</c> passed.</summary>
    public const string CancelAfterElapsed = "cancel_after_elapsed";

    /// <summary>A cancel for a request that had already ended.</summary>
    public const string InferenceFinal = "inference_final";

    /// <summary>A <c>Cancel-After</c> longer than the platform's own deadline.</summary>
    public const string CancelAfterTooLong = "cancel_after_too_long";

    /// <summary>A <c>Cancel-After</c> that is not a duration of at least one second.</summary>
    public const string CancelAfterInvalid = "cancel_after_invalid";

    /// <summary>A <c>limit</c> of <c>GET /v1/inferences</c> that is not a whole number from 1 to 100.</summary>
    public const string LimitInvalid = "limit_invalid";

    /// <summary>A <c>status</c> of <c>GET /v1/inferences</c> that is not one of the API's statuses.</summary>
    public const string StatusInvalid = "status_invalid";

    /// <summary>A <c>cursor</c> of <c>GET /v1/inferences</c> that is not one the API gave this tenant.</summary>
    public const string CursorInvalid = "cursor_invalid";

    /// <summary>An <c>Idempotency-Key</c> header that is empty, too long, repeated or not printable ASCII.</summary>
    public const string IdempotencyKeyInvalid = "idempotency_key_invalid";

    /// <summary>An <c>Idempotency-Key</c> the tenant used, within the last 24 hours, for a different submission.</summary>
    public const string IdempotencyKeyReused = "idempotency_key_reused";

    /// <summary>A <c>model</c> of <c>GET /v1/inferences</c> given twice, or holding characters no model id holds.</summary>
    public const string ModelInvalid = "model_invalid";

    /// <summary>A <c>Last-Event-ID</c> of an event stream that is not a whole number, as the stream's ids are.</summary>
    public const string LastEventIdInvalid = "last_event_id_invalid";

    public const string TenantNotFound = "tenant_not_found";
    public const string TenantDisabled = "tenant_disabled";

    /// <summary>A model the platform does not serve.</summary>
    public const string ModelNotFound = "model_not_found";

    /// <summary>An input that leaves the model nothing to read.</summary>
    public const string InputEmpty = "input_empty";

    /// <summary>An input with more tokens than the model accepts; inputs are refused, never truncated.</summary>
    public const string InputTooLong = "input_too_long";

    /// <summary><c>metadata</c> that is not an object of strings, or holds an empty or repeated key.</summary>
    public const string MetadataInvalid = "metadata_invalid";

    /// <summary><c>metadata</c> with more keys than <see cref="MetadataRules.MaxKeys"/>.</summary>
    public const string MetadataTooManyKeys = "metadata_too_many_keys";

    /// <summary>A <c>metadata</c> key longer than <see cref="MetadataRules.MaxKeyLength"/>.</summary>
    public const string MetadataKeyTooLong = "metadata_key_too_long";

    /// <summary>A <c>metadata</c> value longer than <see cref="MetadataRules.MaxValueLength"/>.</summary>
    public const string MetadataValueTooLong = "metadata_value_too_long";

    /// <summary>A <c>metadata</c> key or value with a control character the text rule refuses (<see cref="InputText"/>).</summary>
    public const string MetadataInvalidCharacter = "metadata_invalid_character";

    /// <summary>A <c>metadata</c> key or value with an unpaired surrogate (<see cref="InputText"/>).</summary>
    public const string MetadataInvalidUnicode = "metadata_invalid_unicode";

    /// <summary>A <c>webhook</c> that is not an absolute http or https URL.</summary>
    public const string WebhookInvalid = "webhook_invalid";

    /// <summary>A <c>webhook</c> whose destination may not receive webhooks: an internal address, or a port other than
    /// 80, 443 and 1024-65535.</summary>
    public const string WebhookUrlNotAllowed = "webhook_url_not_allowed";

    /// <summary>A <c>webhook_events_filter</c> that is not a non-empty array of <c>started</c> and <c>completed</c>.</summary>
    public const string WebhookEventsFilterInvalid = "webhook_events_filter_invalid";

    /// <summary>
    /// A generation parameter (<c>max_tokens</c>, <c>temperature</c>, <c>top_p</c>, <c>seed</c>, <c>stop</c>) of the wrong type
    /// or out of its range, or one the platform does not know; the error names the field.
    /// </summary>
    public const string ParametersInvalid = "parameters_invalid";

    /// <summary>Generation parameters for a model that does not generate (an embedding model).</summary>
    public const string ParametersNotSupported = "parameters_not_supported";

    /// <summary>More than one input for a text-generation model, which continues exactly one prompt.</summary>
    public const string TooManyInputs = "too_many_inputs";

    /// <summary>A model of the wrong task for the route: an embedding model on <c>/v1/completions</c>, a text-generation
    /// model on <c>/v1/embeddings</c>.</summary>
    public const string ModelNotSupported = "model_not_supported";

    /// <summary>An OpenAI parameter the platform does not implement, given a value other than its default (<c>n</c> other
    /// than 1, <c>echo</c>, <c>best_of</c>, <c>logprobs</c>, <c>suffix</c>); OpenAI's own code for it.</summary>
    public const string UnsupportedValue = "unsupported_value";
}
