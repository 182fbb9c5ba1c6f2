namespace Inference.Contracts;

/// <summary>
/// Published once when a request is canceled, nothing charged: by <see cref="CancelInference"/> or the REST cancel
/// (reason <c>canceled</c>), or because the submitter's <c>Cancel-After</c> passed (<c>cancel_after_elapsed</c>). A model
/// run in progress for it is stopped.
/// </summary>
public sealed record InferenceCanceled
{
    public required Guid InferenceId { get; init; }

    public required string TenantId { get; init; }

    public required string Model { get; init; }

    public required InferenceError Reason { get; init; }

    public required DateTimeOffset SubmittedAt { get; init; }

    public required DateTimeOffset CanceledAt { get; init; }
}
