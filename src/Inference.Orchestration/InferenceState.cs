using Inference.Contracts;
using MassTransit;

namespace Inference.Orchestration;

/// <summary>One inference request's saga instance, as stored in the <c>inference_sagas</c> table.</summary>
public sealed class InferenceState : SagaStateMachineInstance
{
    public Guid CorrelationId { get; set; }

    /// <summary>The state's name: Submitted, QuotaReserved, Inferring, Completed, Failed or Canceled.</summary>
    public string CurrentState { get; set; } = null!;

    public string TenantId { get; set; } = null!;

    public string Model { get; set; } = null!;

    /// <summary>The inputs, kept until the request reaches a final state and then cleared.</summary>
    public List<string>? Inputs { get; set; }

    public int InputCount { get; set; }

    public int PromptTokens { get; set; }

    public int CompletionTokens { get; set; }

    public long ReservedTokens { get; set; }

    public string? ErrorCode { get; set; }

    public string? ErrorMessage { get; set; }

    /// <summary>The longest <see cref="ErrorMessage"/> kept; a longer one (an exception's message) is cut.</summary>
    public const int MaxErrorMessageLength = 2048;

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>
    /// When the request must have ended: the platform's deadline, or the submitter's <see cref="CancelAt"/> when that is
    /// sooner. Past it, the deadline sweeper ends the request.
    /// </summary>
    public DateTimeOffset DeadlineAt { get; set; }

    /// <summary>The submitter's own deadline (<c>Cancel-After</c>), at which the request is canceled; null when none.</summary>
    public DateTimeOffset? CancelAt { get; set; }

    /// <summary>
    /// The submitter's labels (<see cref="MetadataRules"/>), shown with the request and never read by the platform; null
    /// when none were given. Kept after the request ends, unlike the inputs.
    /// </summary>
    public Dictionary<string, string>? Metadata { get; set; }

    /// <summary>
    /// For a text-generation model: the parameters it runs with, the model's defaults filled in, so that a resumed run
    /// generates as the first would and the reservation (<see cref="PromptTokens"/> plus their <c>MaxTokens</c>) holds.
    /// Null for a model that does not generate. Kept after the request ends.
    /// </summary>
    public GenerationParameters? Parameters { get; set; }

    /// <summary>A client reads the output as it is generated (<c>stream: true</c>): the worker publishes it in pieces too.</summary>
    public bool Stream { get; set; }

    /// <summary>Every state the request entered, oldest first.</summary>
    public List<StatusChange> History { get; set; } = [];

    /// <summary>Where to answer the submitter's request once quota is decided; null when nobody waits.</summary>
    public Uri? ResponseAddress { get; set; }

    public Guid? RequestId { get; set; }

    /// <summary>The submitter's webhook URL, already checked by the API; null when it asked for none.</summary>
    public string? Webhook { get; set; }

    /// <summary>Which of the request's changes are sent to <see cref="Webhook"/>: a comma-separated subset of
    /// <c>started</c> and <c>completed</c>; null when there is no webhook.</summary>
    public string? WebhookEvents { get; set; }

    /// <summary>Incremented by the repository on every update; a second writer that skipped the row lock fails instead of
    /// losing an update.</summary>
    public int Version { get; set; }
}
