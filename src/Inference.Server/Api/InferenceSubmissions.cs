using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Server.Idempotency;
using Inference.Server.Messaging.Outbox;
using Inference.Orchestration;
using Inference.Server.Persistence;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>
/// Makes a REST submission durable before it is answered: the request's saga row, in Submitted as the saga itself would
/// store it, and its <see cref="ReserveQuota"/> in the outbox, in one transaction. From the commit on the request
/// exists for every reader, and the orchestrators take it from there whatever happens to this process.
/// </summary>
public sealed class InferenceSubmissions(
    InferenceDbContext db,
    OutboxDispatcher outbox,
    IBus bus,
    IOptions<OrchestrationOptions> options,
    TimeProvider clock)
{
    /// <summary>
    /// Stores the request, sends its reservation and waits up to
    /// <paramref name="decisionTimeout"/> for the quota decision. With an <paramref name="idempotencyKey"/> (the
    /// header's key and the submission's fingerprint), the key is stored for the tenant in the same transaction.
    /// <paramref name="metadata"/>, the submitter's labels (null when none were given), is stored with the request.
    /// <paramref name="webhook"/> (its URL and events filter; null for none) is stored with it too. A generation's
    /// <see cref="SubmitInference.Parameters"/> must be resolved (<see cref="GenerationRules.Resolve"/>): the reservation is
    /// <paramref name="promptTokens"/> plus their <c>MaxTokens</c>. With <paramref name="stream"/> the worker publishes the
    /// output in pieces as it generates (<see cref="InferenceOutputDelta"/>).
    /// </summary>
    /// <exception cref="IdempotencyKeyTakenException">The tenant stored the same key in the meantime; nothing was stored.</exception>
    /// <exception cref="Exception">The request could not be stored; nothing was promised.</exception>
    public async Task<SubmissionOutcome> SubmitAsync(SubmitInference submission, int promptTokens, TimeSpan decisionTimeout,
        CancellationToken cancellationToken, (string Key, byte[] Fingerprint)? idempotencyKey = null,
        Dictionary<string, string>? metadata = null, (string Url, string Events)? webhook = null, bool stream = false)
    {
        ArgumentNullException.ThrowIfNull(submission);

        // Listening before anything is sent: the saga may answer before this method gets to wait.
        var requestId = NewId.NextGuid();
        using var decision = new QuotaDecisionListener(bus, requestId);

        var now = clock.GetUtcNow();
        var saga = new InferenceState { CorrelationId = submission.InferenceId, CurrentState = InferenceStates.Submitted };
        InferenceStateMachine.Accept(saga, submission, promptTokens, submission.Parameters, now, options.Value.RequestDeadline, requestId,
            bus.Address);
        saga.Stream = stream;
        (saga.Webhook, saga.WebhookEvents) = webhook is { } hook ? (hook.Url, hook.Events) : (null, null);
        InferenceStateMachine.Enter(saga, now);
        saga.Metadata = metadata;
        var reservation = OutboxMessage.For(saga.CorrelationId, InferenceStateMachine.QuotaQueue, InferenceStateMachine.Reserve(saga), now);
        var key = idempotencyKey is not { } claim ? null : new IdempotencyKey
        {
            TenantId = submission.TenantId,
            Key = claim.Key,
            Fingerprint = claim.Fingerprint,
            InferenceId = saga.CorrelationId,
            CreatedAt = now,
        };

        // One connection for the write and the dispatch: a pooled connection is reset each time it is taken.
        await db.Database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await StoreAsync(saga, reservation, key, cancellationToken).ConfigureAwait(false);

            // Not sent now (the broker is away): an orchestrator's outbox sweeper sends it later, and nobody answers in
            // time. Not cancelled with the call either: a client that hangs up leaves a stored request, which should start
            // now rather than after the sweeper's wait. The send is bounded by Outbox:SendTimeout.
            if (!await outbox.TryDispatchAsync(db, saga.CorrelationId, CancellationToken.None).ConfigureAwait(false))
                return new(saga, null);
        }
        finally
        {
            await db.Database.CloseConnectionAsync().ConfigureAwait(false);
        }

        return new(saga, await decision.WaitAsync(decisionTimeout, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The request, its reservation and its key, if any, in one transaction.</summary>
    /// <exception cref="IdempotencyKeyTakenException">The tenant has the key, for another request, within its window.</exception>
    private async Task StoreAsync(InferenceState saga, OutboxMessage reservation, IdempotencyKey? key, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            db.Inferences.Add(saga);
            db.Outbox.Add(reservation);
            if (key is not null)
                db.IdempotencyKeys.Add(key);
            try
            {
                await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (DbUpdateException exception) when (key is not null && IdempotencyKeys.IsTaken(exception))
            {
                // Nothing of this submission was stored. Either another one with the key committed first (its insert held
                // ours until then), and the caller answers with that one's request, or the key is left from longer ago
                // than its window and retention has not deleted it yet: then it goes, and this submission takes it.
                db.ChangeTracker.Clear();
                if (attempt > 0 || await ForgetExpiredAsync(key, cancellationToken).ConfigureAwait(false) == 0)
                    throw new IdempotencyKeyTakenException(exception);
            }
        }
    }

    private Task<int> ForgetExpiredAsync(IdempotencyKey key, CancellationToken cancellationToken)
    {
        var expired = key.CreatedAt - IdempotencyKeys.Window;
        return db.IdempotencyKeys
            .Where(x => x.TenantId == key.TenantId && x.Key == key.Key && x.CreatedAt <= expired)
            .ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>The saga's answer to one submission, received on this process's bus address by its request id.</summary>
    private sealed class QuotaDecisionListener : IDisposable
    {
        private readonly TaskCompletionSource<object> _decision = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ConnectHandle _accepted;
        private readonly ConnectHandle _rejected;

        public QuotaDecisionListener(IRequestPipeConnector bus, Guid requestId)
        {
            _accepted = bus.ConnectRequestPipe(requestId, Pipe.Execute<ConsumeContext<InferenceAccepted>>(x => _decision.TrySetResult(x.Message)));
            _rejected = bus.ConnectRequestPipe(requestId, Pipe.Execute<ConsumeContext<InferenceRejected>>(x => _decision.TrySetResult(x.Message)));
        }

        public async Task<object?> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            try
            {
                return await _decision.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return null;
            }
        }

        public void Dispose()
        {
            _accepted.Dispose();
            _rejected.Dispose();
        }
    }
}

/// <summary>A stored submission and the quota decision on it.</summary>
/// <param name="Stored">The request's row as stored.</param>
/// <param name="Decision"><see cref="InferenceAccepted"/>, <see cref="InferenceRejected"/>, or null when it did not come in
/// time (the request goes on all the same; <c>GET</c> shows the outcome).</param>
public sealed record SubmissionOutcome(InferenceState Stored, object? Decision);
