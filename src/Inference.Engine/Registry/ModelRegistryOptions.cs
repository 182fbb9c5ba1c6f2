namespace Inference.Engine.Registry;

/// <summary>
/// The <c>Models</c> configuration section: an array with one <see cref="ModelOptions"/> per model. Empty (the default)
/// serves the bundled all-MiniLM-L6-v2 alone, with the <c>Engine</c> section's batch size and threads.
/// </summary>
public sealed class ModelRegistryOptions
{
    public const string SectionName = "Models";

    /// <summary>The entries in configuration order; their position is how a start-up error names an entry without an id.</summary>
    public IList<ModelOptions> Models { get; } = [];
}
