using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Inference.Server.Idempotency;

internal sealed class IdempotencyKeyMap : IEntityTypeConfiguration<IdempotencyKey>
{
    public void Configure(EntityTypeBuilder<IdempotencyKey> builder)
    {
        builder.ToTable("idempotency_keys");
        // The key is the tenant's: two tenants may use the same one. The primary key is what makes two concurrent
        // submissions with one key create one request: the second insert fails and that submission answers the first.
        builder.HasKey(x => new { x.TenantId, x.Key }).HasName("pk_idempotency_keys");
        builder.Property(x => x.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
        builder.Property(x => x.Key).HasColumnName("key").HasMaxLength(IdempotencyKeys.MaxLength);
        builder.Property(x => x.Fingerprint).HasColumnName("fingerprint").HasMaxLength(32);
        builder.Property(x => x.InferenceId).HasColumnName("inference_id");
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");
        // Retention deletes keys by age, and with the requests it deletes.
        builder.HasIndex(x => x.CreatedAt).HasDatabaseName("ix_idempotency_keys_created_at");
        builder.HasIndex(x => x.InferenceId).HasDatabaseName("ix_idempotency_keys_inference_id");
    }
}
