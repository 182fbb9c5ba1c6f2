namespace Inference.Benchmarks.Services;

/// <summary>
/// Where the test services of <c>build/services.sh</c> run: the same <c>INFERENCE_TEST_*</c> variables and loopback
/// defaults as the test suite, so a benchmark runs wherever the integration tests do.
/// </summary>
internal sealed record ServiceAddresses(string Postgres, string Redis, Uri RabbitMq, Uri RabbitMqManagement)
{
    public static ServiceAddresses FromEnvironment() => new(
        Read("INFERENCE_TEST_POSTGRES", "Host=127.0.0.1;Port=55432;Username=inference;Password=inference;Database=postgres"),
        Read("INFERENCE_TEST_REDIS", "127.0.0.1:56379"),
        new Uri(Read("INFERENCE_TEST_RABBITMQ", "amqp://inference:inference@127.0.0.1:55672/")),
        new Uri(Read("INFERENCE_TEST_RABBITMQ_MANAGEMENT", "http://inference:inference@127.0.0.1:55673/")));

    private static string Read(string variable, string fallback) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : fallback;
}
