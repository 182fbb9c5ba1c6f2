using Inference.Contracts;
using Inference.Server.Persistence;
using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Results;

/// <summary>Stores an inference's output, once: a redelivered <see cref="StoreResult"/> finds it stored and only
/// confirms.</summary>
public sealed class StoreResultConsumer(InferenceDbContext db, TimeProvider clock) : IConsumer<StoreResult>
{
    public async Task Consume(ConsumeContext<StoreResult> context)
    {
        var id = context.Message.InferenceId;
        var embeddings = context.Message.Output.Embeddings ?? [];
        db.Results.Add(new InferenceResult
        {
            InferenceId = id,
            Embeddings = EmbeddingEncoding.Encode(embeddings, out var dimensions),
            Dimensions = dimensions,
            CreatedAt = clock.GetUtcNow(),
        });
        try
        {
            // Inserted straight away: a duplicate is rare (a redelivery, work that ran twice), so it is found by the
            // primary key rather than looked for first, which would cost every request a query.
            await db.SaveChangesAsync(context.CancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            // A duplicate, stored before or concurrently, gave us the outcome we wanted; anything else is a fault.
            db.ChangeTracker.Clear();
            if (!await db.Results.AnyAsync(x => x.InferenceId == id, context.CancellationToken).ConfigureAwait(false))
                throw;
        }

        await context.Publish(new ResultStored { InferenceId = id }, context.CancellationToken).ConfigureAwait(false);
    }
}
