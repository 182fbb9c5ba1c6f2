namespace Inference.Orchestration.Protocol;

/// <summary>Run a model over the inputs. Sent to its model's queue,
/// <see cref="ProtocolEndpoints.WorkerFor"/>, once quota is reserved.</summary>
public sealed record RunInference
{
    public required Guid InferenceId { get; init; }

    public required string Model { get; init; }

    public required IReadOnlyList<string> Inputs { get; init; }

    /// <summary>
    /// The request's deadline. A worker that receives the message later does not run it: by then the request has
    /// failed with <c>deadline_exceeded</c> and its quota is released. Null: no deadline.
    /// </summary>
    public DateTimeOffset? NotAfter { get; init; }

    /// <summary>For a text-generation model: how to generate. Null: the model's defaults.</summary>
    public Contracts.GenerationParameters? Parameters { get; init; }

    /// <summary>A client reads the output as it is generated: the worker publishes the text in pieces as well.</summary>
    public bool Stream { get; init; }
}
