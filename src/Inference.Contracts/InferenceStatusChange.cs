namespace Inference.Contracts;

/// <summary>The request entered <see cref="Status"/> (one of <see cref="InferenceStatusNames"/>) at <see cref="At"/>.</summary>
public sealed record InferenceStatusChange
{
    public required string Status { get; init; }

    public required DateTimeOffset At { get; init; }
}
