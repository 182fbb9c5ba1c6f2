namespace Inference.Server.Worker;

/// <summary>Settings of the worker role, bound from the configuration section <c>Worker</c>.</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    /// <summary>The configuration key of <see cref="Models"/>, as error messages name it.</summary>
    public const string ModelsKey = "Worker:Models";

    /// <summary>
    /// The ids of the models this worker serves, each on its own queue; empty: every model in the catalogue. A list
    /// (<c>Worker__Models__0=gpt2</c>) or one comma-separated value (<c>--Worker:Models gpt2,all-minilm-l6-v2</c>), so
    /// that a GPU deployment and a CPU deployment can serve different models and scale apart.
    /// </summary>
    public IReadOnlyList<string> Models { get; set; } = [];

    /// <summary>
    /// Whether this worker also drains the single queue of earlier releases, <c>inference-worker</c>, forwarding each
    /// message to its model's queue. On by default for the release that introduces queues per model; turn it off, and
    /// delete that queue, once it is empty everywhere.
    /// </summary>
    public bool ForwardLegacyQueue { get; set; } = true;

    /// <summary>Reads the section: <see cref="Models"/> as a list or as one comma-separated value.</summary>
    public static void Bind(WorkerOptions options, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(Section);
        var models = section.GetSection(nameof(Models));
        IEnumerable<string?> ids = models.Value is { } single
            ? single.Split(',')
            : models.GetChildren().Select(child => child.Value);
        options.Models = [.. ids.Select(id => id?.Trim() ?? "").Where(id => id.Length > 0).Distinct(StringComparer.Ordinal)];
        if (section.GetValue<bool?>(nameof(ForwardLegacyQueue)) is { } forward)
            options.ForwardLegacyQueue = forward;
    }
}
