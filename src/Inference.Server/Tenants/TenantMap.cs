using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Tenants;

internal sealed class TenantMap : IEntityTypeConfiguration<Tenant>
{
    public void Configure(EntityTypeBuilder<Tenant> builder)
    {
        builder.ToTable("tenants");
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).HasColumnName("id").HasMaxLength(64);
        builder.Property(x => x.Name).HasColumnName("name").HasMaxLength(256);
        builder.Ignore(x => x.Plan);
        builder.Property(x => x.RequestsPerMinute).HasColumnName("requests_per_minute");
        builder.Property(x => x.TokensPerMinute).HasColumnName("tokens_per_minute");
        builder.Property(x => x.TokensPerDay).HasColumnName("tokens_per_day");
        builder.Property(x => x.TokensPerMonth).HasColumnName("tokens_per_month");
        builder.Property(x => x.MaxConcurrent).HasColumnName("max_concurrent");
        builder.Property(x => x.MaxInputsPerRequest).HasColumnName("max_inputs_per_request");
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");
        builder.Property(x => x.DisabledAt).HasColumnName("disabled_at");
        builder.Property(x => x.WebhookSecret).HasColumnName("webhook_secret").HasMaxLength(128);
        builder.Property(x => x.PreviousWebhookSecret).HasColumnName("previous_webhook_secret").HasMaxLength(128);
        builder.Property(x => x.WebhookSecretRotatedAt).HasColumnName("webhook_secret_rotated_at");
    }
}
