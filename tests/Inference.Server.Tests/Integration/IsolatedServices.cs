using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Inference.Server.Tests.Infrastructure;
using Npgsql;
using StackExchange.Redis;

namespace Inference.Server.Tests.Integration;

/// <summary>
/// A private slice of the real services for one test: its own PostgreSQL database, RabbitMQ virtual host and Redis
/// key prefix, all removed afterwards, so tests run side by side and twice in a row without meeting each other.
/// </summary>
public sealed class IsolatedServices : IAsyncLifetime
{
    private readonly TestDatabase _database = new();
    private readonly string _name;
    private readonly HttpClient _rabbitMq;
    private ConnectionMultiplexer? _redis;

    public IsolatedServices()
    {
        _name = _database.Name;
        var management = TestServices.RabbitMqManagement;
        _rabbitMq = new HttpClient { BaseAddress = new Uri(management.GetLeftPart(UriPartial.Authority)) };
        _rabbitMq.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(management.UserInfo))));
    }

    public string Database => _name;

    public string VirtualHost => _name;

    public string RedisPrefix => _name;

    public string PostgresConnectionString => _database.ConnectionString;

    public IDatabase Redis => (_redis ?? throw new InvalidOperationException("Not initialised.")).GetDatabase();

    /// <summary>The settings that point the server at this slice, with migrations applied at start.</summary>
    public Dictionary<string, string?> Settings(string role = "all") => new()
    {
        ["Server:Role"] = role,
        ["ConnectionStrings:Postgres"] = _database.ConnectionString,
        ["ConnectionStrings:RabbitMq"] = new UriBuilder(TestServices.RabbitMq) { Path = "/" + Uri.EscapeDataString(_name) }.Uri.ToString(),
        ["ConnectionStrings:Redis"] = TestServices.Redis,
        ["Quotas:KeyPrefix"] = _name,
        ["Database:ApplyMigrations"] = "true",
    };

    /// <summary>The dev tenant's tokens in the Redis window of <paramref name="day"/> (<c>yyyyMMdd</c>), used and reserved.</summary>
    public async Task<long> DevDayTokensAsync(string day)
    {
        var window = await Redis.HashGetAsync($"{RedisPrefix}:quota:{{dev}}:window:day:{day}", ["used", "reserved"]);
        return (long)window[0] + (long)window[1];
    }

    public async Task InitializeAsync()
    {
        await _database.CreateAsync();

        (await _rabbitMq.PutAsync($"api/vhosts/{_name}", null)).EnsureSuccessStatusCode();
        var user = Uri.UnescapeDataString(TestServices.RabbitMqManagement.UserInfo.Split(':')[0]);
        (await _rabbitMq.PutAsJsonAsync($"api/permissions/{_name}/{user}", new { configure = ".*", write = ".*", read = ".*" }))
            .EnsureSuccessStatusCode();

        _redis = await ConnectionMultiplexer.ConnectAsync(TestServices.Redis);
    }

    public async Task DisposeAsync()
    {
        await _database.DropAsync();

        await _rabbitMq.DeleteAsync($"api/vhosts/{_name}");
        _rabbitMq.Dispose();

        if (_redis is not null)
        {
            foreach (var server in _redis.GetServers())
            {
                await foreach (var key in server.KeysAsync(pattern: _name + ":*"))
                    await _redis.GetDatabase().KeyDeleteAsync(key);
            }

            await _redis.DisposeAsync();
        }
    }

    /// <summary>The virtual host's queues and how many messages each holds (ready and unacknowledged).</summary>
    public async Task<IReadOnlyDictionary<string, long>> QueuesAsync()
    {
        using var document = JsonDocument.Parse(await _rabbitMq.GetStringAsync($"api/queues/{_name}"));
        return document.RootElement.EnumerateArray().ToDictionary(
            queue => queue.GetProperty("name").GetString()!,
            queue => queue.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Number ? messages.GetInt64() : 0);
    }

    /// <summary>The virtual host's consumers: the queue each consumes and its prefetch.</summary>
    public async Task<IReadOnlyList<(string Queue, int Prefetch)>> ConsumersAsync()
    {
        using var document = JsonDocument.Parse(await _rabbitMq.GetStringAsync($"api/consumers/{_name}"));
        return [.. document.RootElement.EnumerateArray().Select(consumer =>
            (consumer.GetProperty("queue").GetProperty("name").GetString()!, consumer.GetProperty("prefetch_count").GetInt32()))];
    }

    /// <summary>Runs one query against this slice's database and returns its first row.</summary>
    public async Task<Dictionary<string, object?>?> RowAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
            return null;
        return Enumerable.Range(0, reader.FieldCount)
            .ToDictionary(reader.GetName, i => reader.IsDBNull(i) ? null : reader.GetValue(i));
    }
}
