using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Inference.Engine.Packaging;

/// <summary>
/// Puts a model embedded in an assembly into a file that ONNX Runtime can open: a session from a file starts about
/// twice as fast as one from a byte array, and the file is reused by every later process.
/// </summary>
internal sealed partial class ModelFileCache(string cacheDirectory, ILogger logger)
{
    /// <summary>
    /// Returns the path of the extracted resource, extracting it only when no complete copy exists. Processes that race
    /// each write their own temporary file and rename it into place, so none ever opens a half-written model.
    /// </summary>
    /// <returns>The path <c>{cache}/{modelId}-{module version id}/{fileName}</c>.</returns>
    public string GetOrExtract(string modelId, AssemblyResourceReader source, string resourceName, string fileName)
    {
        var expectedLength = source.GetLength(resourceName);
        // The module version id changes with every build of the package, so a new package never reuses an old file.
        var directory = Path.Combine(cacheDirectory, $"{modelId}-{source.ModuleVersionId:N}");
        var path = Path.Combine(directory, fileName);
        if (IsComplete(path, expectedLength))
        {
            return path;
        }

        Directory.CreateDirectory(directory);
        var temporaryPath = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            var stopwatch = Stopwatch.StartNew();
            using (var temporary = new FileStream(temporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                source.CopyTo(resourceName, temporary);
                temporary.Flush(flushToDisk: true);
            }

            try
            {
                // Replacing covers a truncated file left by something other than this class; rename is atomic.
                File.Move(temporaryPath, path, overwrite: true);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException && IsComplete(path, expectedLength))
            {
                // Windows refuses to replace a file another process has open; that file is a complete copy.
                return path;
            }

            LogExtracted(logger, modelId, expectedLength, path, stopwatch.ElapsedMilliseconds);
            return path;
        }
        finally
        {
            File.Delete(temporaryPath);
        }
    }

    private static bool IsComplete(string path, long expectedLength)
    {
        var file = new FileInfo(path);
        return file.Exists && file.Length == expectedLength;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Extracted model {ModelId} ({Bytes} bytes) to {Path} in {ElapsedMs} ms")]
    private static partial void LogExtracted(ILogger logger, string modelId, long bytes, string path, long elapsedMs);
}
