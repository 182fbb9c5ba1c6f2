using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Results;

internal sealed class InferenceResultMap : IEntityTypeConfiguration<InferenceResult>
{
    public void Configure(EntityTypeBuilder<InferenceResult> builder)
    {
        builder.ToTable("inference_results");
        builder.HasKey(x => x.InferenceId);
        builder.Property(x => x.InferenceId).HasColumnName("inference_id").ValueGeneratedNever();
        builder.Property(x => x.Embeddings).HasColumnName("embeddings");
        builder.Property(x => x.Dimensions).HasColumnName("dimensions");
        builder.Property(x => x.TextUtf8).HasColumnName("text_utf8");
        builder.Property(x => x.FinishReason).HasColumnName("finish_reason").HasMaxLength(16);
        builder.Property(x => x.CreatedAt).HasColumnName("created_at");
    }
}
