using Inference.Orchestration;
using Inference.Server.Persistence.Sagas;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace Inference.Server.Usage;

/// <summary>
/// Writes a request's <see cref="UsageRecord"/> in the transaction that moves it into Completed: the saga repository
/// shows it each row before the save (<see cref="ISagaSaveObserver{TSaga}"/>), and the record commits with the
/// transition or not at all. So there is no moment at which the request is completed and not billed, nor billed and
/// not completed.
/// </summary>
/// <remarks>
/// Only the move into Completed writes: a row that was Completed already (a redelivered message, a second save within
/// one message) adds nothing, and the record's key, the request's id, refuses a second record even so. A request
/// that used no tokens is not billed and gets none. Failed and canceled requests are charged nothing.
/// </remarks>
internal sealed class UsageRecorder : ISagaSaveObserver<InferenceState>
{
    public ValueTask SavingAsync(DbContext db, EntityEntry<InferenceState> entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(entry);
        var saga = entry.Entity;
        if (saga.CurrentState != InferenceStates.Completed)
            return ValueTask.CompletedTask;

        var before = entry.State == EntityState.Added ? null : entry.Property(x => x.CurrentState).OriginalValue;
        long prompt = saga.PromptTokens;
        long completion = saga.CompletionTokens;
        if (before == InferenceStates.Completed || prompt + completion <= 0)
            return ValueTask.CompletedTask;

        db.Set<UsageRecord>().Add(new UsageRecord
        {
            InferenceId = saga.CorrelationId,
            TenantId = saga.TenantId,
            Model = saga.Model,
            PromptTokens = prompt,
            CompletionTokens = completion,
            TotalTokens = prompt + completion,
            SubmittedAt = saga.CreatedAt,
            CompletedAt = saga.UpdatedAt,
        });
        return ValueTask.CompletedTask;
    }
}
