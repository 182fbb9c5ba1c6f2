namespace Inference.Contracts;

/// <summary>Run a model over the inputs. Sent to <see cref="InferenceEndpoints.Worker"/> once quota is reserved.</summary>
public sealed record RunInference
{
    public required Guid InferenceId { get; init; }

    public required string Model { get; init; }

    public required IReadOnlyList<string> Inputs { get; init; }
}
