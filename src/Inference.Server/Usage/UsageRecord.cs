using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Inference.Server.Usage;

/// <summary>
/// The billing record of one completed request: what it is charged for, kept after the request itself is deleted by
/// retention. Written in the transaction that moves the request into Completed (<see cref="UsageRecorder"/>), so it
/// exists exactly when the request has completed with tokens.
/// </summary>
public sealed class UsageRecord
{
    /// <summary>The request's id; at most one record per request.</summary>
    public Guid InferenceId { get; set; }

    public required string TenantId { get; set; }

    public required string Model { get; set; }

    public long PromptTokens { get; set; }

    public long CompletionTokens { get; set; }

    /// <summary><see cref="PromptTokens"/> plus <see cref="CompletionTokens"/>, stored so that reports sum one column.</summary>
    public long TotalTokens { get; set; }

    /// <summary>When the request was submitted: the time its reservation counted in the quota windows.</summary>
    public DateTimeOffset SubmittedAt { get; set; }

    /// <summary>When the request completed: the time reports bill it by.</summary>
    public DateTimeOffset CompletedAt { get; set; }
}

internal sealed class UsageRecordMap : IEntityTypeConfiguration<UsageRecord>
{
    /// <summary>The table's name, which the reports' SQL names itself.</summary>
    public const string Table = "usage_records";

    public void Configure(EntityTypeBuilder<UsageRecord> builder)
    {
        // UsageReports and DbQuotaSnapshotSource name the table and its columns in their SQL.
        builder.ToTable(Table);
        builder.HasKey(x => x.InferenceId);
        builder.Property(x => x.InferenceId).HasColumnName("inference_id").ValueGeneratedNever();
        builder.Property(x => x.TenantId).HasColumnName("tenant_id").HasMaxLength(64);
        builder.Property(x => x.Model).HasColumnName("model").HasMaxLength(128);
        builder.Property(x => x.PromptTokens).HasColumnName("prompt_tokens");
        builder.Property(x => x.CompletionTokens).HasColumnName("completion_tokens");
        builder.Property(x => x.TotalTokens).HasColumnName("total_tokens");
        builder.Property(x => x.SubmittedAt).HasColumnName("submitted_at");
        builder.Property(x => x.CompletedAt).HasColumnName("completed_at");

        // The reports: one tenant's records over a range of completion times.
        builder.HasIndex(x => new { x.TenantId, x.CompletedAt }).HasDatabaseName("ix_usage_records_tenant_completed");

        // The quota snapshot: the records of a month by submission time, per tenant.
        builder.HasIndex(x => new { x.TenantId, x.SubmittedAt }).HasDatabaseName("ix_usage_records_tenant_submitted");
    }
}
