using System.Text.Json;
using Inference.Server.Messaging.Outbox;
using Inference.Server.Orchestration;
using Inference.Server.Results;
using Inference.Server.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Inference.Server.Persistence;

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
        builder.Property(x => x.ErrorMessage).HasColumnName("error_message").HasMaxLength(2048);
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");
        builder.Property(x => x.UpdatedAt).HasColumnName("updated_at");
        builder.Property(x => x.DeadlineAt).HasColumnName("deadline_at");
        builder.Property(x => x.History).HasColumnName("history").HasColumnType(jsonColumnType).Json();
        builder.Property(x => x.ResponseAddress).HasColumnName("response_address").HasMaxLength(512);
        builder.Property(x => x.RequestId).HasColumnName("request_id");
        builder.Property(x => x.Version).HasColumnName("version").IsConcurrencyToken();

        // A tenant's requests, newest first, optionally by status: the listing query of the API.
        builder.HasIndex(x => new { x.TenantId, x.CreatedAt }).HasDatabaseName("ix_inference_sagas_tenant_created");

        // The deadline sweep: unfinished requests (a few states) whose deadline has passed, oldest first. Finished
        // requests, which are nearly all rows, are never read by it.
        builder.HasIndex(x => new { x.CurrentState, x.DeadlineAt }).HasDatabaseName("ix_inference_sagas_state_deadline");
    }
}

internal sealed class OutboxMessageMap : IEntityTypeConfiguration<OutboxMessage>
{
    public void Configure(EntityTypeBuilder<OutboxMessage> builder)
    {
        // OutboxDispatcher's DELETE ... RETURNING names the table and the correlation column itself.
        builder.ToTable("outbox_messages");
        builder.HasKey(x => x.Sequence);
        builder.Property(x => x.Sequence).HasColumnName("sequence").ValueGeneratedOnAdd();
        builder.Property(x => x.CorrelationId).HasColumnName("correlation_id");
        builder.Property(x => x.MessageId).HasColumnName("message_id");
        builder.Property(x => x.Destination).HasColumnName("destination").HasMaxLength(1024);
        builder.Property(x => x.MessageType).HasColumnName("message_type").HasMaxLength(256);
        builder.Property(x => x.Body).HasColumnName("body");
        builder.Property(x => x.RequestId).HasColumnName("request_id");
        builder.Property(x => x.ConversationId).HasColumnName("conversation_id");
        builder.Property(x => x.InitiatorId).HasColumnName("initiator_id");
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");

        // A request's messages, for the dispatcher; the table holds only what has not left yet, so it stays small.
        builder.HasIndex(x => x.CorrelationId).HasDatabaseName("ix_outbox_messages_correlation");
    }
}

internal sealed class InferenceResultMap : IEntityTypeConfiguration<InferenceResult>
{
    public void Configure(EntityTypeBuilder<InferenceResult> builder)
    {
        builder.ToTable("inference_results");
        builder.HasKey(x => x.InferenceId);
        builder.Property(x => x.InferenceId).HasColumnName("inference_id").ValueGeneratedNever();
        builder.Property(x => x.Embeddings).HasColumnName("embeddings");
        builder.Property(x => x.Dimensions).HasColumnName("dimensions");
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");
    }
}

internal sealed class TenantMap : IEntityTypeConfiguration<Tenant>
{
    public void Configure(EntityTypeBuilder<Tenant> builder)
    {
        builder.ToTable("tenants");
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).HasColumnName("id").HasMaxLength(64);
        builder.Property(x => x.Name).HasColumnName("name").HasMaxLength(256);
        builder.Property(x => x.TokensPerMinute).HasColumnName("tokens_per_minute");
        builder.Property(x => x.TokensPerDay).HasColumnName("tokens_per_day");
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");
    }
}

internal sealed class ApiKeyMap : IEntityTypeConfiguration<ApiKey>
{
    public void Configure(EntityTypeBuilder<ApiKey> builder)
    {
        builder.ToTable("api_keys");
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).HasColumnName("id").ValueGeneratedNever();
        builder.Property(x => x.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
        builder.Property(x => x.KeyHash).HasColumnName("key_hash").HasMaxLength(64);
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");
        builder.Property(x => x.RevokedAt).HasColumnName("revoked_at");
        builder.HasIndex(x => x.KeyHash).IsUnique().HasDatabaseName("ux_api_keys_key_hash");
        builder.HasOne<Tenant>().WithMany().HasForeignKey(x => x.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal static class JsonPropertyBuilderExtensions
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    /// <summary>Stores a value as a JSON document, compared by content so that in-place edits are saved.</summary>
    public static PropertyBuilder<T> Json<T>(this PropertyBuilder<T> property)
    {
        property.HasConversion(
            value => JsonSerializer.Serialize(value, Options),
            json => JsonSerializer.Deserialize<T>(json, Options)!,
            new ValueComparer<T>(
                (left, right) => JsonSerializer.Serialize(left, Options) == JsonSerializer.Serialize(right, Options),
                value => JsonSerializer.Serialize(value, Options).GetHashCode(StringComparison.Ordinal),
                value => JsonSerializer.Deserialize<T>(JsonSerializer.Serialize(value, Options), Options)!));
        return property;
    }
}
