using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Messaging.Outbox;

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
