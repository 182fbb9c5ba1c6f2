using Inference.Server.Idempotency;
using Inference.Server.Messaging.Outbox;
using Inference.Orchestration;
using Inference.Server.Orchestration;
using Inference.Server.Results;
using Inference.Server.Tenants;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Persistence;

/// <summary>
/// The platform's database: sagas, results, tenants, keys and the outbox. One subclass per provider, each with its own
/// migrations, so that PostgreSQL (production) and SQLite (embedded mode) run the same code.
/// </summary>
public abstract class InferenceDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<InferenceState> Inferences => Set<InferenceState>();

    public DbSet<InferenceResult> Results => Set<InferenceResult>();

    public DbSet<Tenant> Tenants => Set<Tenant>();

    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();

    /// <summary>Messages committed with a transition or a submission and not sent yet.</summary>
    public DbSet<OutboxMessage> Outbox => Set<OutboxMessage>();

    /// <summary>The <c>Idempotency-Key</c>s of submissions, each naming the request it created.</summary>
    public DbSet<IdempotencyKey> IdempotencyKeys => Set<IdempotencyKey>();
    /// <summary>Webhook events to send, sent, or given up on.</summary>
    public DbSet<Webhooks.WebhookDelivery> WebhookDeliveries => Set<Webhooks.WebhookDelivery>();

    /// <summary>The billing record: one row per completed request, kept when the request is deleted.</summary>
    public DbSet<Usage.UsageRecord> UsageRecords => Set<Usage.UsageRecord>();

    /// <summary>The provider's column type for JSON documents.</summary>
    protected abstract string JsonColumnType { get; }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfiguration(new InferenceStateMap(JsonColumnType));
        modelBuilder.ApplyConfiguration(new InferenceResultMap());
        modelBuilder.ApplyConfiguration(new TenantMap());
        modelBuilder.ApplyConfiguration(new ApiKeyMap());
        modelBuilder.ApplyConfiguration(new OutboxMessageMap());
        modelBuilder.ApplyConfiguration(new IdempotencyKeyMap());
        modelBuilder.ApplyConfiguration(new Webhooks.WebhookDeliveryMap());
        modelBuilder.ApplyConfiguration(new Usage.UsageRecordMap());
    }
}

/// <summary>PostgreSQL, for every role of a real deployment.</summary>
public sealed class PostgresInferenceDbContext(DbContextOptions<PostgresInferenceDbContext> options) : InferenceDbContext(options)
{
    protected override string JsonColumnType => "jsonb";
}

/// <summary>A time as its UTC ticks (every time we store is UTC).</summary>
internal sealed class UtcTicksConverter() : Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTimeOffset, long>(
    value => value.UtcTicks,
    ticks => new DateTimeOffset(ticks, TimeSpan.Zero));

/// <summary>SQLite, for the embedded single-process mode.</summary>
public sealed class SqliteInferenceDbContext(DbContextOptions<SqliteInferenceDbContext> options) : InferenceDbContext(options)
{
    protected override string JsonColumnType => "TEXT";

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite has no timestamp type: stored as UTC ticks, times keep full precision and still sort and compare in SQL.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<UtcTicksConverter>();
    }
}
