using System.Globalization;

namespace Inference.Benchmarks.Pipeline;

/// <summary>The report as a table, one column per concurrency, for the console.</summary>
internal static class PipelineTable
{
    public static void Write(TextWriter output, PipelineReport report)
    {
        var phases = report.Phases;
        void Row(string label, Func<PhaseFigures, double?> value, string format = "F2") =>
            output.WriteLine($"{label,-30}" + string.Concat(phases.Select(p =>
                $"{(value(p) is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "-"),12}")));

        output.WriteLine($"pipeline: 1 input of {report.Settings.Tokens} tokens per request, {report.Machine.Cores} cores, " +
            $"commit {report.Git.Commit?[..Math.Min(12, report.Git.Commit.Length)] ?? "unknown"}{(report.Git.Dirty == true ? " (modified)" : "")}");
        output.WriteLine($"{"concurrency",-30}" + string.Concat(phases.Select(p => $"{p.Concurrency,12}")));
        Row("requests", p => p.Requests, "F0");
        Row("requests/s", p => p.RequestsPerSecond, "F1");
        Row("submit to final p50 ms", p => p.SubmitToFinalMs.P50, "F1");
        Row("submit to final p99 ms", p => p.SubmitToFinalMs.P99, "F1");
        Row("POST p50 ms", p => p.PostMs.P50, "F1");
        output.WriteLine("CPU ms per request");
        Row("  api", p => p.CpuMsPerRequest.Api);
        Row("  orchestrator", p => p.CpuMsPerRequest.Orchestrator);
        Row("  worker", p => p.CpuMsPerRequest.Worker);
        Row("  postgresql", p => p.CpuMsPerRequest.Postgresql);
        Row("  rabbitmq", p => p.CpuMsPerRequest.Rabbitmq);
        Row("  redis", p => p.CpuMsPerRequest.Redis);
        Row("  total", p => p.CpuMsPerRequest.Total);
        Row("  beyond the model", p => p.CpuMsPerRequest.BeyondModel);
        Row("messages published/request", p => p.MessagesPublishedPerRequest);
        Row("messages delivered/request", p => p.MessagesDeliveredPerRequest);
        Row("commits/request", p => p.CommitsPerRequest);
        Row("redis commands/request", p => p.RedisCommandsPerRequest);
        Row("other CPU, % of machine", p => p.Interference.OtherCpuPercent, "F1");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model alone: {report.Model.CpuMsPerInput:F2} ms CPU per input ({report.Model.Inputs} inputs at batch size 1, {report.Model.IntraOpThreads} threads)"));
    }
}
