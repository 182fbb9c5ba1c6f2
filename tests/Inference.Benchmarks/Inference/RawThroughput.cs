using System.Diagnostics;
using Inference.Benchmarks.Measurement;
using Inference.Engine;
using Inference.Engine.Registry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// The model alone: the engine's ONNX Runtime session called in this process, one batch after the other, with inputs of
/// one length, at each batch size tried. The ceiling a worker is measured against.
/// </summary>
internal sealed class RawThroughput : IDisposable
{
    /// <summary>The bundled model, served when nothing else is configured.</summary>
    public const string ModelId = "all-minilm-l6-v2";

    private readonly ModelCatalog _catalog;

    private RawThroughput(ModelCatalog catalog, IEmbeddingModel model, int intraOpThreads)
    {
        _catalog = catalog;
        Model = model;
        IntraOpThreads = intraOpThreads;
    }

    public IEmbeddingModel Model { get; }

    /// <summary>
    /// ONNX Runtime threads per run: all the engine's threads (<c>Engine:IntraOpThreads</c>), the fastest one caller gets.
    /// The worker shares them among its concurrent runs instead.
    /// </summary>
    public int IntraOpThreads { get; }

    /// <summary>
    /// The bundled model as the worker builds it, but with one run at a time using all the engine's threads: ORT called
    /// directly, one batch after the other, as fast as one caller can have it. The registry entry's <c>max_batch_size</c>
    /// is the largest batch tried; the raw figures do not depend on it (each batch is one direct call), but it keeps the
    /// model's own description true of what is run.
    /// </summary>
    public static async Task<RawThroughput> CreateAsync(int largestBatch, CancellationToken cancellationToken)
    {
        var options = new EngineOptions();
        var registry = new ModelRegistryOptions();
        registry.Models.Add(new ModelOptions
        {
            Id = ModelId,
            Task = "embedding",
            Path = ModelOptions.BundledMiniLm,
            MaxBatchSize = largestBatch,
            Threads = options.IntraOpThreads,
            ConcurrentRuns = 1,
        });
        var catalog = new ModelCatalog(Options.Create(options), Options.Create(registry), NullLoggerFactory.Instance);
        try
        {
            if (!catalog.TryGet(ModelId, out var found) || found is not IEmbeddingModel model)
                throw new InvalidOperationException($"The engine has no embedding model {ModelId}.");
            await model.WarmUpAsync(cancellationToken).ConfigureAwait(false);
            return new RawThroughput(catalog, model, options.IntraOpThreads);
        }
        catch
        {
            catalog.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="batch"/> through the model as ONE batch: one ONNX Runtime call on this thread, outside the
    /// engine's batching queue, so that no batching delay is timed. Every raw figure goes through here.
    /// </summary>
    public Task RunBatchAsync(IReadOnlyList<string> batch, CancellationToken cancellationToken) =>
        Model.EmbedBatchDirectAsync(batch, cancellationToken);

    /// <summary>
    /// Sentences per second at <paramref name="batchSize"/>: a short warm-up, then batches one after the other for at least
    /// <paramref name="duration"/> and at least three batches. The batches cycle through <paramref name="sentences"/>.
    /// Other work on the machine slows the model down (with two threads per run, one preempted leaves the other waiting
    /// at the join): its share of the machine meanwhile is returned too.
    /// </summary>
    public async Task<RawPoint> MeasureAsync(IReadOnlyList<string> sentences, int batchSize, TimeSpan duration, CancellationToken cancellationToken)
    {
        var next = 0;
        IReadOnlyList<string> NextBatch()
        {
            var batch = new string[batchSize];
            for (var i = 0; i < batchSize; i++)
                batch[i] = sentences[next++ % sentences.Count];
            return batch;
        }

        // ONNX Runtime's arena grows to the batch's shape on its first run; the JIT settles within a few.
        var warmup = Stopwatch.StartNew();
        for (var i = 0; i < 1 || warmup.Elapsed < TimeSpan.FromMilliseconds(300); i++)
            await RunBatchAsync(NextBatch(), cancellationToken).ConfigureAwait(false);

        var batches = 0;
        var machine = ProcFs.ReadMachine();
        var cpu = Environment.CpuUsage.TotalTime;
        var clock = Stopwatch.StartNew();
        while (batches < 3 || clock.Elapsed < duration)
        {
            await RunBatchAsync(NextBatch(), cancellationToken).ConfigureAwait(false);
            batches++;
        }

        var elapsed = clock.Elapsed;
        var busy = ProcFs.ReadMachine() - machine;
        var ownMilliseconds = (Environment.CpuUsage.TotalTime - cpu).TotalMilliseconds;
        var otherMilliseconds = ProcFs.TicksToMilliseconds(busy.Processes + busy.Interrupts) - ownMilliseconds;
        return new RawPoint(batches * batchSize / elapsed.TotalSeconds,
            ownMilliseconds / (batches * batchSize),
            Math.Max(0, otherMilliseconds) / ProcFs.TicksToMilliseconds(Math.Max(1, busy.Total)) * 100,
            100.0 * busy.Steal / Math.Max(1, busy.Total));
    }

    public void Dispose() => _catalog.Dispose();
}

/// <param name="SentencesPerSecond">The figure.</param>
/// <param name="CpuMsPerSentence">This process's CPU time per sentence: what the model costs, all its threads together.</param>
/// <param name="OtherCpuPercent">The machine's CPU used by other processes meanwhile, in % of all cores.</param>
/// <param name="StealPercent">The machine's CPU time the hypervisor gave to other guests meanwhile, in % of all cores.</param>
internal sealed record RawPoint(double SentencesPerSecond, double CpuMsPerSentence, double OtherCpuPercent, double StealPercent);
