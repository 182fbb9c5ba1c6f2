using Inference.Contracts;
using Inference.Orchestration.Protocol;
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
    /// Stores the request, sends its reservation of <paramref name="promptTokens"/> and waits up to
    /// <paramref name="decisionTimeout"/> for the quota decision.
    /// </summary>
    /// <param name="submission">The request.</param>
    /// <param name="promptTokens">Its tokens, as the model counts them.</param>
    /// <param name="decisionTimeout">How long to wait for the quota decision.</param>
    /// <param name="cancellationToken">The caller's.</param>
    /// <param name="webhook">Where the request's events go, and which; null for none.</param>
    /// <exception cref="Exception">The request could not be stored; nothing was promised.</exception>
    public async Task<SubmissionOutcome> SubmitAsync(SubmitInference submission, int promptTokens, TimeSpan decisionTimeout,
        CancellationToken cancellationToken, (string Url, string Events)? webhook = null)
    {
        ArgumentNullException.ThrowIfNull(submission);

        // Listening before anything is sent: the saga may answer before this method gets to wait.
        var requestId = NewId.NextGuid();
        using var decision = new QuotaDecisionListener(bus, requestId);

        var now = clock.GetUtcNow();
        var saga = new InferenceState { CorrelationId = submission.InferenceId, CurrentState = InferenceStates.Submitted };
        InferenceStateMachine.Accept(saga, submission, promptTokens, now, options.Value.RequestDeadline, requestId, bus.Address);
        (saga.Webhook, saga.WebhookEvents) = webhook is { } hook ? (hook.Url, hook.Events) : (null, null);
        InferenceStateMachine.Enter(saga, now);
        db.Inferences.Add(saga);
        db.Outbox.Add(OutboxMessage.For(saga.CorrelationId, InferenceStateMachine.QuotaQueue, InferenceStateMachine.Reserve(saga), now));

        // One connection for the write and the dispatch: a pooled connection is reset each time it is taken.
        await db.Database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);

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
