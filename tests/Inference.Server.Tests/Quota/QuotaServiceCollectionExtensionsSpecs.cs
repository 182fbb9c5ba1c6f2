using Inference.Server.Quota;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Inference.Server.Tests.Quota;

public sealed class QuotaServiceCollectionExtensionsSpecs(RedisConnectionFixture redis)
    : IClassFixture<RedisConnectionFixture>
{
    [Fact]
    public async Task The_redis_ledger_uses_the_key_prefix_from_the_quota_section()
    {
        var keyPrefix = "quota-test-" + Guid.NewGuid().ToString("N");
        await using var provider = BuildProvider(
            services => services.AddRedisQuotaLedger(),
            new Dictionary<string, string?> { ["Quotas:KeyPrefix"] = keyPrefix });

        try
        {
            var ledger = provider.GetRequiredService<IQuotaLedger>();
            await ledger.ReserveAsync(new QuotaReservation("tenant-a", Guid.NewGuid(), 10), QuotaPlan.Unlimited);

            Assert.IsType<RedisQuotaLedger>(ledger);
            // Minute, day, month, the slots, the reservation and the rebuild marker.
            Assert.Equal(6, (await redis.KeysAsync(keyPrefix)).Length);
        }
        finally
        {
            await redis.DeleteKeysAsync(keyPrefix);
        }
    }

    [Fact]
    public async Task The_in_process_ledger_is_one_instance_for_the_whole_process()
    {
        await using var provider = BuildProvider(services => services.AddInProcessQuotaLedger(), []);

        var ledger = provider.GetRequiredService<IQuotaLedger>();

        Assert.IsType<InProcessQuotaLedger>(ledger);
        Assert.Same(ledger, provider.GetRequiredService<IQuotaLedger>());
    }

    [Fact]
    public async Task An_empty_key_prefix_is_refused_at_start()
    {
        await using var provider = BuildProvider(
            services => services.AddRedisQuotaLedger(),
            new Dictionary<string, string?> { ["Quotas:KeyPrefix"] = "" });

        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<QuotaOptions>>().Value);
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-00:05:00")]
    public async Task A_slot_lifetime_that_is_not_positive_is_refused_at_start(string slotLifetime)
    {
        await using var provider = BuildProvider(
            services => services.AddInProcessQuotaLedger(),
            new Dictionary<string, string?> { ["Quotas:SlotLifetime"] = slotLifetime });

        var refusal = Assert.Throws<OptionsValidationException>(
            () => provider.GetRequiredService<IOptions<QuotaOptions>>().Value);
        Assert.Contains("Quotas:SlotLifetime must be positive.", refusal.Failures);
    }

    [Fact]
    public async Task The_slot_lifetime_is_an_hour_unless_configured()
    {
        await using var provider = BuildProvider(
            services => services.AddInProcessQuotaLedger(),
            new Dictionary<string, string?> { ["Quotas:SlotLifetime"] = "00:20:00" });
        await using var defaults = BuildProvider(services => services.AddInProcessQuotaLedger(), []);

        Assert.Equal(TimeSpan.FromMinutes(20), provider.GetRequiredService<IOptions<QuotaOptions>>().Value.SlotLifetime);
        Assert.Equal(TimeSpan.FromHours(1), defaults.GetRequiredService<IOptions<QuotaOptions>>().Value.SlotLifetime);
    }

    private ServiceProvider BuildProvider(
        Action<IServiceCollection> register,
        Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddSingleton(redis.Connection);
        services.AddSingleton<IQuotaSnapshotSource>(new ScriptedQuotaSnapshotSource());
        register(services);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
    }
}
