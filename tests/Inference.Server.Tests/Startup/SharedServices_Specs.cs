using Inference.Server.Tests.Infrastructure;

namespace Inference.Server.Tests.Startup;

/// <summary>
/// Every role in one process either keeps everything to itself (the embedded mode) or shares everything: a process on a
/// shared broker with a private database or quota ledger would consume other replicas' events for requests it cannot see,
/// and count quota per replica. Such a process must not start.
/// </summary>
public sealed class When_every_role_runs_in_one_process_with_only_some_shared_services
{
    // Never connected to: the start is refused before any connection opens.
    private const string RabbitMq = "amqp://inference:inference@127.0.0.1:1/";
    private const string Postgres = "Host=127.0.0.1;Port=1;Username=inference;Password=inference;Database=inference";
    private const string Redis = "127.0.0.1:1";

    [Theory]
    [InlineData(RabbitMq, null, null, "ConnectionStrings:Postgres, ConnectionStrings:Redis")]
    [InlineData(null, Postgres, null, "ConnectionStrings:RabbitMq, ConnectionStrings:Redis")]
    [InlineData(null, null, Redis, "ConnectionStrings:RabbitMq, ConnectionStrings:Postgres")]
    [InlineData(RabbitMq, Postgres, null, "ConnectionStrings:Redis")]
    [InlineData(RabbitMq, null, Redis, "ConnectionStrings:Postgres")]
    [InlineData(null, Postgres, Redis, "ConnectionStrings:RabbitMq")]
    public async Task Should_refuse_to_start_and_name_the_missing_settings(string? rabbitMq, string? postgres, string? redis, string missing)
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?>
        {
            ["Server:Role"] = "all",
            ["ConnectionStrings:RabbitMq"] = rabbitMq,
            ["ConnectionStrings:Postgres"] = postgres,
            ["ConnectionStrings:Redis"] = redis,
        });

        var refused = Assert.Throws<InvalidOperationException>(() => app.Services);

        Assert.Contains($"but not {missing}.", refused.Message, StringComparison.Ordinal);
    }
}
