using Inference.Orchestration;
using Inference.Server.Persistence;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Orchestration;

internal sealed class InferenceStateMap(string jsonColumnType) : IEntityTypeConfiguration<InferenceState>
{
    public void Configure(EntityTypeBuilder<InferenceState> builder)
    {
        builder.ToTable("inference_sagas");
        builder.HasKey(x => x.CorrelationId);
        builder.Property(x => x.CorrelationId).HasColumnName("correlation_id").ValueGeneratedNever();
        builder.Property(x => x.CurrentState).HasColumnName("current_state").HasMaxLength(32);
        builder.Property(x => x.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
        builder.Property(x => x.Model).HasColumnName("model").HasMaxLength(128);
        builder.Property(x => x.Inputs).HasColumnName("inputs").HasColumnType(jsonColumnType).Json();
        builder.Property(x => x.InputCount).HasColumnName("input_count");
        builder.Property(x => x.PromptTokens).HasColumnName("prompt_tokens");
        builder.Property(x => x.CompletionTokens).HasColumnName("completion_tokens");
        builder.Property(x => x.ReservedTokens).HasColumnName("reserved_tokens");
        builder.Property(x => x.ErrorCode).HasColumnName("error_code").HasMaxLength(64);
        builder.Property(x => x.ErrorMessage).HasColumnName("error_message").HasMaxLength(InferenceState.MaxErrorMessageLength);
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");
        builder.Property(x => x.UpdatedAt).HasColumnName("updated_at");
        builder.Property(x => x.DeadlineAt).HasColumnName("deadline_at");
        builder.Property(x => x.CancelAt).HasColumnName("cancel_at");
        builder.Property(x => x.History).HasColumnName("history").HasColumnType(jsonColumnType).Json();
        builder.Property(x => x.Metadata).HasColumnName("metadata").HasColumnType(jsonColumnType).Json();
        // Stop strings pass the text rule of the inputs (no U+0000, no unpaired surrogate), so jsonb holds them.
        builder.Property(x => x.Parameters).HasColumnName("parameters").HasColumnType(jsonColumnType).Json();
        builder.Property(x => x.Stream).HasColumnName("stream");
        builder.Property(x => x.ResponseAddress).HasColumnName("response_address").HasMaxLength(512);
        builder.Property(x => x.RequestId).HasColumnName("request_id");
        builder.Property(x => x.Webhook).HasColumnName("webhook").HasMaxLength(Webhooks.WebhookUrlRules.MaxLength);
        builder.Property(x => x.WebhookEvents).HasColumnName("webhook_events").HasMaxLength(32);
        builder.Property(x => x.Version).HasColumnName("version").IsConcurrencyToken();

        // A tenant's requests, newest first, optionally by status or model: the listing query of the API, a keyset over
        // (created_at, correlation_id) within the tenant.
        builder.HasIndex(x => new { x.TenantId, x.CreatedAt, x.CorrelationId }).HasDatabaseName("ix_inference_sagas_tenant_created");

        // The deadline sweep: unfinished requests (a few states) whose deadline has passed, oldest first. Finished
        // requests, which are nearly all rows, are never read by it.
        builder.HasIndex(x => new { x.CurrentState, x.DeadlineAt }).HasDatabaseName("ix_inference_sagas_state_deadline");

        // Retention: final requests (a few states) last changed before the cut-off, oldest first.
        builder.HasIndex(x => new { x.CurrentState, x.UpdatedAt }).HasDatabaseName("ix_inference_sagas_state_updated");
    }
}
