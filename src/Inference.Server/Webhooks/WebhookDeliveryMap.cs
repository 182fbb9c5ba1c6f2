using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Inference.Server.Webhooks;

internal sealed class WebhookDeliveryMap : IEntityTypeConfiguration<WebhookDelivery>
{
    public void Configure(EntityTypeBuilder<WebhookDelivery> builder)
    {
        // WebhookDispatcher's claim names the table and its columns itself.
        builder.ToTable("webhook_deliveries");
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(x => x.InferenceId).HasColumnName("inference_id");
        builder.Property(x => x.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
        builder.Property(x => x.EventType).HasColumnName("event_type").HasMaxLength(32);
        builder.Property(x => x.Url).HasColumnName("url").HasMaxLength(WebhookUrlRules.MaxLength);
        builder.Property(x => x.Destination).HasColumnName("destination").HasMaxLength(300);
        builder.Property(x => x.Payload).HasColumnName("payload");
        builder.Property(x => x.Status).HasColumnName("status").HasMaxLength(16);
        builder.Property(x => x.Attempts).HasColumnName("attempts");
        builder.Property(x => x.NextAttemptAt).HasColumnName("next_attempt_at");
        builder.Property(x => x.LeaseUntil).HasColumnName("lease_until");
        builder.Property(x => x.LastStatusCode).HasColumnName("last_status_code");
        builder.Property(x => x.LastError).HasColumnName("last_error").HasMaxLength(WebhookDelivery.MaxErrorLength);
        builder.Property(x => x.LastAttemptAt).HasColumnName("last_attempt_at");
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");

        // The dispatcher's claim: pending deliveries, earliest due first.
        builder.HasIndex(x => new { x.Status, x.NextAttemptAt }).HasDatabaseName("ix_webhook_deliveries_status_due");

        // A request's deliveries, for its GET.
        builder.HasIndex(x => x.InferenceId).HasDatabaseName("ix_webhook_deliveries_inference");

        // The operator's list by status, newest first.
        builder.HasIndex(x => new { x.Status, x.CreatedAt }).HasDatabaseName("ix_webhook_deliveries_status_created");
    }
}
