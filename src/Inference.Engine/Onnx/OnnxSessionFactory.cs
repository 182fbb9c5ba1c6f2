using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Inference.Engine.Onnx;

/// <summary>
/// Creates ONNX Runtime sessions with the engine's settings. The one place that chooses an execution provider: this
/// build references the CPU runtime only, so a GPU build adds its provider here (falling back to CPU when the device
/// is absent).
/// </summary>
internal sealed partial class OnnxSessionFactory(EngineOptions options, ILogger logger)
{
    /// <summary>
    /// The device the sessions run on, named as clients see it in a model's listing. A GPU build decides it here, from the
    /// devices ONNX Runtime finds, before the first session exists.
    /// </summary>
    public const string Device = "cpu";

    public InferenceSession Create(string modelId, string modelPath)
    {
        var stopwatch = Stopwatch.StartNew();
        // ORT copies the options into the session, so they can go as soon as it exists.
        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = options.IntraOpThreads,
            InterOpNumThreads = 1,
        };
        // Spinning threads keep cores busy between runs; with other work on the machine (the host itself, a second
        // session) they collapse throughput on small core counts.
        sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        sessionOptions.AppendExecutionProvider_CPU();

        var session = new InferenceSession(modelPath, sessionOptions);
        LogSessionCreated(logger, modelId, modelPath, Device, options.IntraOpThreads, stopwatch.ElapsedMilliseconds);
        return session;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created ONNX Runtime session for {ModelId} from {Path} on {Device} with {IntraOpThreads} threads in {ElapsedMs} ms")]
    private static partial void LogSessionCreated(ILogger logger, string modelId, string path, string device, int intraOpThreads, long elapsedMs);
}
