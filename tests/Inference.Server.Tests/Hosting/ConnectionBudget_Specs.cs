using Inference.Server.Tests.Infrastructure;

namespace Inference.Server.Tests.Hosting;

/// <summary>
/// What a process may do at once must fit in its PostgreSQL pool: past it, work would wait for a connection and fail.
/// Nothing is connected to here; the check is made before anything starts.
/// </summary>
public sealed class When_the_connection_pool_is_smaller_than_the_work_a_process_may_run_at_once
{
    [Theory]
    [InlineData("api", "Api:MaxConcurrentRequests")]
    [InlineData("orchestrator", "Messaging:ConcurrentMessageLimit")]
    public async Task Should_refuse_to_start_and_say_what_to_change(string role, string setting)
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?>
        {
            ["Server:Role"] = role,
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Username=nobody;Password=nothing;Database=none;Maximum Pool Size=20",
            ["ConnectionStrings:RabbitMq"] = "amqp://nobody:nothing@127.0.0.1:1/",
            ["ConnectionStrings:Redis"] = "127.0.0.1:1",
        });

        var failure = Assert.IsType<InvalidOperationException>(Record.Exception(() => app.Server));

        Assert.Contains("Maximum Pool Size", failure.Message, StringComparison.Ordinal);
        Assert.Contains("pool of 20", failure.Message, StringComparison.Ordinal);
        Assert.Contains(setting, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_start_when_the_work_fits()
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?>
        {
            ["Server:Role"] = "api",
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=1;Username=nobody;Password=nothing;Database=none;Maximum Pool Size=20",
            ["ConnectionStrings:RabbitMq"] = "amqp://nobody:nothing@127.0.0.1:1/",
            ["Api:MaxConcurrentRequests"] = "18", // With the readiness checks and the event streams' poll: 20.
        });

        // It gets past the check and fails later, on the database that is not there: not on the budget.
        var failure = Record.Exception(() => app.Server);
        Assert.DoesNotContain("Maximum Pool Size", failure?.Message ?? string.Empty, StringComparison.Ordinal);
    }
}
