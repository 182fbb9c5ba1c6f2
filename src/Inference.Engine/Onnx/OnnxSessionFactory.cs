using System.Diagnostics;
using Inference.Engine.Registry;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Inference.Engine.Onnx;

/// <summary>
/// Creates one model's ONNX Runtime sessions with its settings, and decides where they run: the one place that chooses
/// an execution provider. <c>cuda</c> appends CUDA's provider; where it cannot load (the CPU build, which has none; no
/// GPU; no CUDA or cuDNN libraries) a warning names the model and the session runs on the CPU.
/// </summary>
internal sealed partial class OnnxSessionFactory
{
    private const string CudaProvider = "CUDAExecutionProvider";

    private static readonly Lazy<bool> BuildHasCuda = new(() =>
        OrtEnv.Instance().GetAvailableProviders().Contains(CudaProvider, StringComparer.Ordinal));

    private readonly string _modelId;
    private readonly int _intraOpThreads;
    private readonly ILogger _logger;
    private volatile string _device;

    /// <param name="modelId">The model, for logs.</param>
    /// <param name="intraOpThreads">Threads one run may use.</param>
    /// <param name="device"><c>cpu</c> or <c>cuda</c>, as configured.</param>
    /// <param name="logger">For the sessions' events and the fallback warning.</param>
    public OnnxSessionFactory(string modelId, int intraOpThreads, string device, ILogger logger)
    {
        _modelId = modelId;
        _intraOpThreads = intraOpThreads;
        _logger = logger;
        _device = ModelRegistry.Cpu;
        if (device == ModelRegistry.Cuda)
        {
            // Probed now so that a listing says cpu before the first session where the build cannot run CUDA at all;
            // whether the provider really loads is known only when a session is created.
            if (BuildHasCuda.Value)
            {
                _device = ModelRegistry.Cuda;
            }
            else
            {
                LogCudaFallback(logger, modelId, "this build's ONNX Runtime has no CUDA provider (build with -p:InferenceFlavour=gpu)");
            }
        }
    }

    /// <summary>
    /// Where the model's sessions run: <c>cuda</c> or <c>cpu</c>. Before the first session, the device the build can
    /// offer; from then on, the device the session really got.
    /// </summary>
    public string Device => _device;

    public InferenceSession Create(string modelPath)
    {
        var stopwatch = Stopwatch.StartNew();
        if (_device == ModelRegistry.Cuda)
        {
            try
            {
                using var cudaOptions = CreateOptions(cuda: true);
                var session = new InferenceSession(modelPath, cudaOptions);
                LogSessionCreated(_logger, _modelId, modelPath, ModelRegistry.Cuda, _intraOpThreads, stopwatch.ElapsedMilliseconds);
                return session;
            }
            catch (Exception exception) when (exception is OnnxRuntimeException or DllNotFoundException or EntryPointNotFoundException)
            {
                // The provider's library or one it needs (libcudart, libcublas, libcudnn) is missing, or there is no GPU.
                LogCudaFallback(_logger, _modelId, exception.Message);
                _device = ModelRegistry.Cpu;
            }
        }

        using var sessionOptions = CreateOptions(cuda: false);
        var cpuSession = new InferenceSession(modelPath, sessionOptions);
        LogSessionCreated(_logger, _modelId, modelPath, ModelRegistry.Cpu, _intraOpThreads, stopwatch.ElapsedMilliseconds);
        return cpuSession;
    }

    private SessionOptions CreateOptions(bool cuda)
    {
        // ORT copies the options into the session, so they can go as soon as it exists.
        var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = _intraOpThreads,
            InterOpNumThreads = 1,
        };
        try
        {
            // Spinning threads keep cores busy between runs; with other work on the machine (the host itself, a second
            // session) they collapse throughput on small core counts.
            sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            if (cuda)
            {
                // Nodes CUDA cannot run fall back to the CPU provider appended after it.
                sessionOptions.AppendExecutionProvider_CUDA(0);
            }

            sessionOptions.AppendExecutionProvider_CPU();
            return sessionOptions;
        }
        catch
        {
            sessionOptions.Dispose();
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created ONNX Runtime session for {ModelId} from {Path} on {Device} with {IntraOpThreads} threads in {ElapsedMs} ms")]
    private static partial void LogSessionCreated(ILogger logger, string modelId, string path, string device, int intraOpThreads, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {ModelId} is configured for cuda but runs on cpu: {Reason}")]
    private static partial void LogCudaFallback(ILogger logger, string modelId, string reason);
}
