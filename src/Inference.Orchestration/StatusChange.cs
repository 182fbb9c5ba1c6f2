namespace Inference.Orchestration;

/// <summary>The request entered <paramref name="State"/> at <paramref name="At"/>.</summary>
public sealed record StatusChange(string State, DateTimeOffset At);
