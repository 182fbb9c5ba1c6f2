using Inference.Orchestration.Protocol;
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
        var output = context.Message.Output;
        db.Results.Add(ResultText.Fill(new InferenceResult { InferenceId = id, CreatedAt = clock.GetUtcNow() }, output));
        try
        {
            // Inserted straight away: a duplicate is rare (a redelivery, work that ran twice), so it is found by the
            // primary key rather than looked for first, which would cost every request a query.
            await db.SaveChangesAsync(context.CancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            // A duplicate, stored before or concurrently, gave us the outcome we wanted; anything else is a fault.
            // The first output stands; it is the one the request completes with.
            db.ChangeTracker.Clear();
            var stored = await db.Results.AsNoTracking().SingleOrDefaultAsync(x => x.InferenceId == id, context.CancellationToken)
                .ConfigureAwait(false);
            if (stored is null)
                throw;
            output = ResultText.Output(stored);
        }

        await context.Publish(new ResultStored { InferenceId = id, Output = output }, context.CancellationToken).ConfigureAwait(false);
    }
}
