using System.Runtime.InteropServices;
using Inference.Benchmarks;
using Inference.Benchmarks.Pipeline;

// Benchmarks of the whole system. ./build/bench.sh NAME builds what NAME needs and runs this program:
//
//   Inference.Benchmarks NAME [options of NAME]
//
// Each benchmark prints its figures and writes them as JSON (artifacts/bench/NAME.json by default).
IBenchmark[] benchmarks =
[
    new PipelineBenchmark(), new Inference.Benchmarks.Webhooks.WebhooksBenchmark(), new Inference.Benchmarks.Quota.QuotaBenchmark(),
    new Inference.Benchmarks.Inference.InferenceBenchmark(),
];

if (args is not [var name, ..] || benchmarks.FirstOrDefault(b => b.Name == name) is not { } benchmark)
{
    Console.Error.WriteLine("usage: Inference.Benchmarks NAME [options]");
    Console.Error.WriteLine("known benchmarks:");
    foreach (var known in benchmarks)
        Console.Error.WriteLine($"  {known.Name,-12} {known.Description}");
    return 2;
}

// Ctrl+C and SIGTERM cancel the run instead of ending the process, so that it still stops the roles and removes its
// database, virtual host and keys.
using var cancellation = new CancellationTokenSource();
void Cancel(PosixSignalContext context)
{
    context.Cancel = true;
    cancellation.Cancel();
}

using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
try
{
    return await benchmark.RunAsync(args[1..], cancellation.Token);
}
catch (UsageException exception)
{
    Console.Error.WriteLine($"{benchmark.Name}: {exception.Message}");
    return 2;
}
catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
{
    Console.Error.WriteLine($"{benchmark.Name}: cancelled");
    return 130;
}
catch (Exception exception)
{
    // By now the benchmark has stopped what it started and removed what it created.
    Console.Error.WriteLine($"{benchmark.Name}: failed: {exception}");
    return 1;
}
