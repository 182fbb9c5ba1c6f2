namespace Inference.Benchmarks;

/// <summary>One benchmark that <c>./build/bench.sh NAME</c> can run.</summary>
internal interface IBenchmark
{
    /// <summary>The name given to bench.sh; also the name of the JSON file it writes.</summary>
    string Name { get; }

    string Description { get; }

    /// <returns>The process exit code: 0 when the figures are valid.</returns>
    /// <exception cref="UsageException">The options are invalid.</exception>
    Task<int> RunAsync(string[] args, CancellationToken cancellationToken);
}

/// <summary>A command line the benchmark cannot run with; reported with exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
