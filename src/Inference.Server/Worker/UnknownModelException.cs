namespace Inference.Server.Worker;

/// <summary>This worker does not serve the requested model. Retrying cannot help, so it faults at once.</summary>
public sealed class UnknownModelException(string model) : Exception($"This worker does not serve model '{model}'.")
{
    public string Model { get; } = model;
}
