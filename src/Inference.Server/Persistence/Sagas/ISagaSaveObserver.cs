using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace Inference.Server.Persistence.Sagas;

/// <summary>
/// Sees each saga row the repository is about to save, inside the message's transaction, so that it can add rows of its
/// own that commit (or roll back) with the transition: the webhook deliveries a transition causes, for example.
/// </summary>
/// <remarks>
/// The entry tells the row's state before and after the transition: <see cref="EntityEntry.State"/> is
/// <see cref="EntityState.Added"/> for a new row, and otherwise its <see cref="EntityEntry.OriginalValues"/> are the
/// row as loaded (or as last saved within the same message). Register one per saga type in the container; the
/// repository resolves them from the message's scope. An observer should cost nothing for a row it has no interest in.
/// </remarks>
public interface ISagaSaveObserver<TSaga>
    where TSaga : class, ISaga
{
    ValueTask SavingAsync(DbContext db, EntityEntry<TSaga> entry, CancellationToken cancellationToken);
}
