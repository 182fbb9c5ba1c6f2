using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// The batches the worker's engine ran in a window, read from its Debug line per run
/// (<c>Batch of MODEL: N inputs from R requests in one run</c>): whether the worker really batches, and how fully.
/// </summary>
/// <param name="Runs">Model runs in the window.</param>
/// <param name="MeanInputs">Inputs per run, on average.</param>
/// <param name="P50Inputs">Median inputs per run.</param>
/// <param name="MaxInputs">The largest run.</param>
/// <param name="FullRuns">Share of runs that were at the largest size seen, in %.</param>
/// <param name="MeanRunMs">Wall time of one run (ONNX Runtime and pooling), on average: against the raw figure's, what sharing the machine with the bus costs the model.</param>
internal sealed partial record BatchFigures(int Runs, double MeanInputs, int P50Inputs, int MaxInputs, double FullRuns, double MeanRunMs)
{
    /// <summary>The figures of the lines <paramref name="path"/> gained between the byte offsets <paramref name="from"/> and <paramref name="to"/>.</summary>
    public static async Task<BatchFigures?> ReadAsync(string path, string modelId, long from, long to, CancellationToken cancellationToken)
    {
        if (to <= from || !File.Exists(path))
            return null;
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        await using (stream.ConfigureAwait(false))
        {
            stream.Seek(from, SeekOrigin.Begin);
            var buffer = new byte[to - from];
            await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
            var sizes = new List<int>();
            var milliseconds = new List<double>();
            foreach (Match match in BatchLine().Matches(Encoding.UTF8.GetString(buffer)))
            {
                if (match.Groups["model"].Value != modelId)
                    continue;
                sizes.Add(int.Parse(match.Groups["inputs"].Value, CultureInfo.InvariantCulture));
                milliseconds.Add(double.Parse(match.Groups["ms"].Value, CultureInfo.InvariantCulture));
            }

            if (sizes.Count == 0)
                return null;
            sizes.Sort();
            var max = sizes[^1];
            return new BatchFigures(sizes.Count, Math.Round(sizes.Average(), 2), sizes[sizes.Count / 2], max,
                Math.Round(100.0 * sizes.Count(s => s == max) / sizes.Count, 1), Math.Round(milliseconds.Average(), 1));
        }
    }

    [GeneratedRegex(@"Batch of (?<model>\S+): (?<inputs>\d+) inputs from \d+ requests in one run of (?<ms>\d+) ms", RegexOptions.CultureInvariant)]
    private static partial Regex BatchLine();
}
