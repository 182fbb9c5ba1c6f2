namespace Inference.Orchestration.Protocol;

public sealed record QuotaReserved
{
    public required Guid InferenceId { get; init; }

    public required long Tokens { get; init; }
}
