namespace Inference.Server.Tests.Infrastructure;

/// <summary>
/// Where the real PostgreSQL, Redis and RabbitMQ used by the tests live. <c>./build/test.sh</c> starts them on
/// these loopback ports (or exports the variables to reuse services that already run elsewhere).
/// </summary>
public static class TestServices
{
    public static string Postgres => Read(
        "INFERENCE_TEST_POSTGRES",
        "Host=127.0.0.1;Port=55432;Username=inference;Password=inference;Database=postgres");

    public static string Redis => Read("INFERENCE_TEST_REDIS", "127.0.0.1:56379");

    public static Uri RabbitMq => new(Read("INFERENCE_TEST_RABBITMQ", "amqp://inference:inference@127.0.0.1:55672/"));

    public static Uri RabbitMqManagement =>
        new(Read("INFERENCE_TEST_RABBITMQ_MANAGEMENT", "http://inference:inference@127.0.0.1:55673/"));

    private static string Read(string variable, string fallback) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : fallback;
}
