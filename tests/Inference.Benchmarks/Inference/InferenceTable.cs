using System.Globalization;

namespace Inference.Benchmarks.Inference;

/// <summary>The report as a table for the console.</summary>
internal static class InferenceTable
{
    public static void Write(TextWriter output, InferenceReport report, InferenceOptions options)
    {
        static string Number(double? value, string format = "F1") => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
        void Row(string label, string t16, string t128) => output.WriteLine($"{label,-44}{t16,14}{t128,14}");

        var raw = report.Raw;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"inference: {raw.Model}, {report.Machine.Cores} cores ({report.Machine.Cpu})"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"raw: one run at a time with {raw.IntraOpThreads} ONNX Runtime threads; worker: the product's defaults (on a CPU, two runs at once sharing them)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"each figure is the median of {raw.Rounds} rounds; the worker's detail rows are its median round's"));
        Row("sentences/s", "16 tokens", "128 tokens");
        Row("raw: in-process, best batch", $"{Number(report.RawSentencesPerST16)} (b{raw.BatchSizeT16})", $"{Number(report.RawSentencesPerST128)} (b{raw.BatchSizeT128})");
        foreach (var size in raw.SentencesPerSecond["t16"].Keys)
            Row($"  raw at batch {size}", Number(raw.SentencesPerSecond["t16"][size]), Number(raw.SentencesPerSecond["t128"].GetValueOrDefault(size)));
        Row($"worker via RabbitMQ, {options.InFlight} in flight", Number(report.WorkerSentencesPerST16), Number(report.WorkerSentencesPerST128));
        Row("worker, batch size 1, one run at a time", Number(report.UnbatchedWorkerSentencesPerST16), "-");
        Row("worker, batch size 1, two runs at once", Number(report.UnbatchedConcurrentWorkerSentencesPerST16), "-");
        Row("  worker CPU ms/sentence (batched)", Number(report.Worker["worker_t16"].WorkerCpuMsPerSentence, "F2"),
            Number(report.Worker["worker_t128"].WorkerCpuMsPerSentence, "F2"));
        Row("  driver CPU ms/sentence (batched)", Number(report.Worker["worker_t16"].ClientCpuMsPerSentence, "F2"),
            Number(report.Worker["worker_t128"].ClientCpuMsPerSentence, "F2"));
        Row("  rabbitmq CPU ms/sentence (batched)", Number(report.Worker["worker_t16"].RabbitMqCpuMsPerSentence, "F2"),
            Number(report.Worker["worker_t128"].RabbitMqCpuMsPerSentence, "F2"));
        Row("  machine CPU elsewhere, % (batched)", Number(report.Worker["worker_t16"].OtherCpuPercent, "F0"),
            Number(report.Worker["worker_t128"].OtherCpuPercent, "F0"));
        Row("  machine CPU stolen by the hypervisor, %", Number(report.Worker["worker_t16"].StealPercent, "F0"),
            Number(report.Worker["worker_t128"].StealPercent, "F0"));
        Row("  inputs per model run, mean (batched)", Number(report.Worker["worker_t16"].Batches?.MeanInputs), Number(report.Worker["worker_t128"].Batches?.MeanInputs));
        Row("  send to reply p50 ms (batched)", Number(report.Worker["worker_t16"].LatencyP50Ms, "F0"), Number(report.Worker["worker_t128"].LatencyP50Ms, "F0"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{"worker peak RSS MiB",-44}{Number(report.WorkerRssMib),14} (batch size 1: {Number(report.UnbatchedWorkerRssMib)})"));
        output.WriteLine($"{"generation tokens/s, 1 / 8 concurrent",-44}{Number(report.GenerationTokensPerSB1),14}{Number(report.GenerationTokensPerSB8),14}");
        if (report.GenerationNote is { } note)
            output.WriteLine($"  {note}");
        foreach (var (name, ratios) in report.RoundRatios)
            output.WriteLine($"{"  " + name + ", round by round",-44}{string.Join("  ", ratios.Select(r => Number(r, "F2"))),28}");
        output.WriteLine("targets");
        foreach (var target in report.Targets)
        {
            var verdict = target.Pass switch { true => "pass", false => "FAIL", null => "not measured" };
            output.WriteLine($"  {target.Name + " " + target.Target,-42}{Number(target.Value, "F2"),14}  {verdict}");
        }
    }
}
