using Inference.Server.Tests.Infrastructure;
using StackExchange.Redis;

namespace Inference.Server.Tests.Quota;

/// <summary>One connection to the test Redis per test class; tests isolate themselves by key prefix.</summary>
public sealed class RedisConnectionFixture : IAsyncLifetime
{
    private ConnectionMultiplexer? _connection;

    public IConnectionMultiplexer Connection =>
        _connection ?? throw new InvalidOperationException("The fixture has not connected yet.");

    public async Task InitializeAsync() => _connection = await ConnectionMultiplexer.ConnectAsync(TestServices.Redis);

    public async Task DisposeAsync()
    {
        if (_connection is not null)
            await _connection.DisposeAsync();
    }

    /// <summary>Every key under a prefix; the test Redis is small, so a scan is cheap.</summary>
    public async Task<RedisKey[]> KeysAsync(string prefix)
    {
        var keys = new List<RedisKey>();
        foreach (var server in Connection.GetServers())
        {
            await foreach (var key in server.KeysAsync(pattern: prefix + ":*"))
                keys.Add(key);
        }

        return [.. keys];
    }

    public async Task DeleteKeysAsync(string prefix)
    {
        var keys = await KeysAsync(prefix);
        if (keys.Length > 0)
            await Connection.GetDatabase().KeyDeleteAsync(keys);
    }
}
