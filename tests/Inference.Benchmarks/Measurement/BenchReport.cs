using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Inference.Benchmarks.Measurement;

/// <summary>How every benchmark writes <c>artifacts/bench/NAME.json</c>: snake case, indented, one newline at the end.</summary>
internal static class BenchReport
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // A figure that could not be computed (NaN) is written, not thrown on.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // The report is read by people and tools, never embedded in HTML: "+" and non-ASCII text stay as they are.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes <paramref name="report"/> to <paramref name="path"/>, creating its directory.</summary>
    public static async Task WriteAsync<T>(string path, T report, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(report, Json) + "\n", cancellationToken).ConfigureAwait(false);
    }
}
