using System.Diagnostics;
using Inference.Benchmarks.Measurement;
using Inference.Engine;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Inference.Benchmarks.Pipeline;

/// <summary>
/// The model's own cost for the benchmark's input: the engine the worker runs, with the worker's default settings,
/// embedding the sentence alone (batch size 1) in this process while nothing else of the run is going on.
/// </summary>
internal static class ModelCost
{
    private const string ModelId = "all-minilm-l6-v2";

    public static async Task<ModelFigures> MeasureAsync(string sentence, int inputs, CancellationToken cancellationToken)
    {
        var options = new EngineOptions();
        using var catalog = new ModelCatalog(Options.Create(options), NullLoggerFactory.Instance);
        if (!catalog.TryGet(ModelId, out var found) || found is not IEmbeddingModel model)
            throw new InvalidOperationException($"The engine has no embedding model {ModelId}.");

        string[] batch = [sentence];
        var tokens = model.CountTokens(batch).Total;
        await model.WarmUpAsync(cancellationToken).ConfigureAwait(false);
        // Enough runs for the JIT's second tier and ONNX Runtime's allocations to have happened.
        for (var i = 0; i < 50; i++)
            await model.EmbedAsync(batch, cancellationToken).ConfigureAwait(false);

        var machine = ProcFs.ReadMachine();
        var cpu = Environment.CpuUsage.TotalTime;
        var wall = Stopwatch.StartNew();
        for (var i = 0; i < inputs; i++)
            await model.EmbedAsync(batch, cancellationToken).ConfigureAwait(false);
        var cpuMilliseconds = (Environment.CpuUsage.TotalTime - cpu).TotalMilliseconds;
        var elapsed = wall.Elapsed.TotalMilliseconds;
        var busy = ProcFs.ReadMachine() - machine;

        // Other work on the machine slows the model down too: with two threads per run, one that is preempted leaves
        // the other waiting at the join, and that wait is CPU time.
        var otherPercent = Math.Max(0, ProcFs.TicksToMilliseconds(busy.Processes + busy.Interrupts) - cpuMilliseconds)
            / ProcFs.TicksToMilliseconds(Math.Max(1, busy.Total)) * 100;
        return new ModelFigures(ModelId, tokens, inputs, options.IntraOpThreads,
            Math.Round(cpuMilliseconds / inputs, 3), Math.Round(elapsed / inputs, 3), Math.Round(otherPercent, 1));
    }
}

/// <param name="Model">The model's id.</param>
/// <param name="Tokens">The sentence's tokens by the model's tokenizer, [CLS] and [SEP] included.</param>
/// <param name="Inputs">Inputs measured.</param>
/// <param name="IntraOpThreads">ONNX Runtime threads per run: the engine's default, as in the worker.</param>
/// <param name="CpuMsPerInput">CPU time of this process per input, all threads.</param>
/// <param name="WallMsPerInput">Elapsed time per input.</param>
/// <param name="OtherCpuPercent">The machine's CPU used by other processes meanwhile, in % of all cores.</param>
internal sealed record ModelFigures(
    string Model, int Tokens, int Inputs, int IntraOpThreads, double CpuMsPerInput, double WallMsPerInput, double OtherCpuPercent);
