using System.Diagnostics;
using Inference.Benchmarks.Measurement;
using Inference.Engine;
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

    /// <summary>ONNX Runtime threads per run: the engine's default, as in the worker.</summary>
    public int IntraOpThreads { get; }

    /// <summary>
    /// The bundled model with the worker's default engine settings, except that a batch may be as large as the largest
    /// size tried. ADAPT AFTER THE MERGE: once the model registry lands, the largest batch is the model entry's
    /// <c>max_batch_size</c> rather than <c>Engine:MaxBatchSize</c>; build the catalogue from such an entry here.
    /// </summary>
    public static async Task<RawThroughput> CreateAsync(int largestBatch, CancellationToken cancellationToken)
    {
        var options = new EngineOptions { MaxBatchSize = largestBatch };
        var catalog = new ModelCatalog(Options.Create(options), NullLoggerFactory.Instance);
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
    /// Runs <paramref name="batch"/> through the model as ONE batch: one ONNX Runtime call. Every raw figure goes through
    /// here. ADAPT AFTER THE MERGE: EmbedAsync runs N inputs as one batch only while N is at most the model's batch size
    /// and the engine does not coalesce calls; once the engine has its direct batch method (the "reg" helper's), call
    /// that instead so that no batching delay is timed.
    /// </summary>
    public Task RunBatchAsync(IReadOnlyList<string> batch, CancellationToken cancellationToken) =>
        Model.EmbedAsync(batch, cancellationToken);

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
        var otherMilliseconds = ProcFs.TicksToMilliseconds(busy.Processes + busy.Interrupts) - (Environment.CpuUsage.TotalTime - cpu).TotalMilliseconds;
        return new RawPoint(batches * batchSize / elapsed.TotalSeconds,
            Math.Max(0, otherMilliseconds) / ProcFs.TicksToMilliseconds(Math.Max(1, busy.Total)) * 100);
    }

    public void Dispose() => _catalog.Dispose();
}

/// <param name="SentencesPerSecond">The figure.</param>
/// <param name="OtherCpuPercent">The machine's CPU used by other processes meanwhile, in % of all cores.</param>
internal sealed record RawPoint(double SentencesPerSecond, double OtherCpuPercent);
