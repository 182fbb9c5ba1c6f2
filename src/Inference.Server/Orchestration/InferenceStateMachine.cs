using Inference.Contracts;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Inference.Server.Orchestration;

/// <summary>
/// The life of one inference request. Reads like the diagram in docs/architecture.md: every event is handled or
/// explicitly ignored in every state it can arrive in, and an event for an unknown request faults to the error queue.
/// </summary>
public sealed class InferenceStateMachine : MassTransitStateMachine<InferenceState>
{
    private static readonly Uri QuotaQueue = new($"queue:{InferenceEndpoints.Quota}");
    private static readonly Uri SettlementQueue = new($"queue:{InferenceEndpoints.QuotaSettlements}");
    private static readonly Uri WorkerQueue = new($"queue:{InferenceEndpoints.Worker}");
    private static readonly Uri ResultsQueue = new($"queue:{InferenceEndpoints.Results}");

    public InferenceStateMachine(TimeProvider clock, IOptions<OrchestrationOptions> options)
    {
        var deadline = options.Value.RequestDeadline;
        InstanceState(x => x.CurrentState);

        Event(() => SubmitInference, e => e.CorrelateById(m => m.Message.InferenceId));
        Event(() => QuotaGranted, e => Existing(e.CorrelateById(m => m.Message.InferenceId)));
        Event(() => QuotaRefused, e => Existing(e.CorrelateById(m => m.Message.InferenceId)));
        Event(() => QuotaFaulted, e => Existing(e.CorrelateById(m => m.Message.Message.InferenceId)));
        Event(() => InferenceStarted, e => Existing(e.CorrelateById(m => m.Message.InferenceId)));
        Event(() => InferenceSucceeded, e => Existing(e.CorrelateById(m => m.Message.InferenceId)));
        Event(() => InferenceFaulted, e => Existing(e.CorrelateById(m => m.Message.Message.InferenceId)));
        Event(() => ResultStored, e => Existing(e.CorrelateById(m => m.Message.InferenceId)));
        Event(() => ResultStoreFaulted, e => Existing(e.CorrelateById(m => m.Message.Message.InferenceId)));
        Event(() => DeadlineReached, e => Existing(e.CorrelateById(m => m.Message.InferenceId)));
        Event(() => Resume, e => Existing(e.CorrelateById(m => m.Message.InferenceId)));

        // A note on redeliveries. Each step is sent after the saga row is committed; a crash or a broker failure in
        // between leaves the row moved on and the step unsent, and the broker (or the retry) then delivers the very
        // message that moved it again. So the message that last moved a request (its id is stored with the row), when
        // it comes again, sends its step again without changing the state. Where the first send did arrive, the second
        // changes nothing: the ledger decides once per request and the result is stored once (a worker may run the
        // model again, which costs work only). Other duplicates are ignored: a client's second submission must not
        // queue the work twice.

        Initially(
            When(SubmitInference)
                .Then(context => Accept(context.Saga, context.Message, deadline, context.RequestId, context.ResponseAddress))
                .TransitionTo(Submitted)
                .Send(QuotaQueue, context => Reserve(context.Saga)));

        During(Submitted,
            When(SubmitInference).If(IsRedelivery, x => x.Send(QuotaQueue, context => Reserve(context.Saga))),
            When(Resume).Send(QuotaQueue, context => Reserve(context.Saga)),
            When(QuotaGranted)
                .TransitionTo(QuotaReserved)
                .ThenAsync(context => AnswerSubmitter(context, new InferenceAccepted
                {
                    InferenceId = context.Saga.CorrelationId,
                    ReservedTokens = context.Saga.ReservedTokens,
                }))
                .Send(WorkerQueue, context => Run(context.Saga)),
            When(QuotaRefused)
                .Then(context => Fail(context.Saga, ErrorCodes.QuotaExceeded,
                    $"The {context.Message.Limit} limit of {context.Message.LimitValue} tokens leaves {context.Message.Remaining}; this request needs {context.Saga.ReservedTokens}."))
                .TransitionTo(Failed)
                .ThenAsync(context => AnswerSubmitter(context, new InferenceRejected
                {
                    InferenceId = context.Saga.CorrelationId,
                    Code = ErrorCodes.QuotaExceeded,
                    Message = context.Saga.ErrorMessage!,
                    Limit = context.Message.Limit,
                    RetryAfter = context.Message.RetryAfter,
                })),
            When(QuotaFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.QuotaUnavailable, "The quota service could not decide on this request."))
                .TransitionTo(Failed)
                .ThenAsync(context => AnswerSubmitter(context, Rejection(context.Saga)))
                // The reservation may have been counted before the fault; releasing an unknown reservation is a no-op.
                .Send(SettlementQueue, context => Release(context.Saga)));

        During(QuotaReserved,
            When(QuotaGranted).If(IsRedelivery, x => x.Send(WorkerQueue, context => Run(context.Saga))),
            When(InferenceStarted).TransitionTo(Inferring));

        // Work queued or under way: resuming queues it again (the worker that still has it, if any, finishes first
        // and the saga takes the first success).
        During(QuotaReserved, Inferring,
            When(Resume).Send(WorkerQueue, context => Run(context.Saga)),
            When(InferenceSucceeded)
                .Then(context => context.Saga.CompletionTokens = context.Message.Usage.CompletionTokens)
                .Then(context => context.Saga.PromptTokens = context.Message.Usage.PromptTokens)
                .TransitionTo(Inferring)
                .Send(ResultsQueue, context => new StoreResult
                {
                    InferenceId = context.Saga.CorrelationId,
                    Output = context.Message.Output,
                }),
            When(InferenceFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.InferenceFailed, Describe(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)));

        During(Inferring,
            When(ResultStored)
                .TransitionTo(Completed)
                .Send(SettlementQueue, context => Settle(context.Saga)),
            When(ResultStoreFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.ResultStoreFailed, Describe(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)));

        // The deadline is stored with the request and swept, so it holds even when the process that held the request
        // is gone. A reservation still on its way is released when it lands (below).
        During(Submitted, QuotaReserved, Inferring,
            When(DeadlineReached)
                .Then(context => Fail(context.Saga, ErrorCodes.DeadlineExceeded,
                    $"The request did not finish by its deadline, {context.Message.Deadline:O}."))
                .TransitionTo(Failed)
                .ThenAsync(context => AnswerSubmitter(context, Rejection(context.Saga)))
                .Send(SettlementQueue, context => Release(context.Saga)));

        // Redeliveries into a final state: settle or release again (at most once in the ledger), never change the
        // outcome. A reservation that lands after the request ended must not stay counted either (not a redelivery:
        // the grant is news).
        During(Completed,
            When(ResultStored).If(IsRedelivery, x => x.Send(SettlementQueue, context => Settle(context.Saga))));
        During(Failed,
            When(InferenceFaulted).If(IsRedelivery, x => x.Send(SettlementQueue, context => Release(context.Saga))),
            When(ResultStoreFaulted).If(IsRedelivery, x => x.Send(SettlementQueue, context => Release(context.Saga))),
            When(DeadlineReached).If(IsRedelivery, x => x.Send(SettlementQueue, context => Release(context.Saga))));
        // Nor may one counted by a reservation that then faulted (the ledger may have counted it before the fault).
        During(Failed, Canceled,
            When(QuotaGranted).Send(SettlementQueue, context => Release(context.Saga)),
            When(QuotaFaulted).Send(SettlementQueue, context => Release(context.Saga)));

        // Everything below was already acted upon, or is a straggler from a step the request has left.
        During([QuotaReserved, Inferring, Completed, Failed, Canceled],
            Ignore(SubmitInference));
        During(Submitted,
            Ignore(InferenceStarted),
            Ignore(InferenceSucceeded),
            Ignore(InferenceFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted));
        During(QuotaReserved, Inferring,
            Ignore(QuotaRefused),
            Ignore(QuotaFaulted));
        During(QuotaReserved,
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted));
        During(Inferring,
            Ignore(QuotaGranted),
            Ignore(InferenceStarted));
        During(Completed,
            Ignore(QuotaGranted),
            Ignore(ResultStoreFaulted),
            Ignore(DeadlineReached));
        During(Canceled,
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted),
            Ignore(InferenceFaulted),
            Ignore(DeadlineReached));
        During(Failed,
            Ignore(ResultStored));
        During(Completed, Failed, Canceled,
            Ignore(QuotaRefused),
            Ignore(InferenceStarted),
            Ignore(InferenceSucceeded),
            Ignore(Resume));
        During(Completed,
            Ignore(QuotaFaulted));
        During(Completed,
            Ignore(InferenceFaulted));

        WhenEnterAny(binder => binder.Then(context => Record(context.Saga, context.MessageId, clock)));
    }

    public State Submitted { get; private set; } = null!;

    public State QuotaReserved { get; private set; } = null!;

    public State Inferring { get; private set; } = null!;

    public State Completed { get; private set; } = null!;

    public State Failed { get; private set; } = null!;

    public State Canceled { get; private set; } = null!;

    public Event<SubmitInference> SubmitInference { get; private set; } = null!;

    /// <summary><see cref="Contracts.QuotaReserved"/>: named apart from the state it leads to.</summary>
    public Event<QuotaReserved> QuotaGranted { get; private set; } = null!;

    /// <summary><see cref="QuotaRejected"/>.</summary>
    public Event<QuotaRejected> QuotaRefused { get; private set; } = null!;

    public Event<Fault<ReserveQuota>> QuotaFaulted { get; private set; } = null!;

    public Event<InferenceStarted> InferenceStarted { get; private set; } = null!;

    public Event<InferenceSucceeded> InferenceSucceeded { get; private set; } = null!;

    public Event<Fault<RunInference>> InferenceFaulted { get; private set; } = null!;

    public Event<ResultStored> ResultStored { get; private set; } = null!;

    public Event<Fault<StoreResult>> ResultStoreFaulted { get; private set; } = null!;

    /// <summary><see cref="InferenceDeadlineReached"/>, sent by the deadline sweeper.</summary>
    public Event<InferenceDeadlineReached> DeadlineReached { get; private set; } = null!;

    /// <summary><see cref="ResumeInference"/>: send again whatever the request waits for.</summary>
    public Event<ResumeInference> Resume { get; private set; } = null!;

    /// <summary>
    /// Only SubmitInference creates a request. Anything else for an unknown id is faulted to the error queue: kept for
    /// an operator to see, never silently dropped and never retried forever.
    /// </summary>
    private static void Existing<TMessage>(IEventCorrelationConfigurator<InferenceState, TMessage> correlation)
        where TMessage : class =>
        correlation.OnMissingInstance(m => m.Fault());

    private static void Accept(InferenceState saga, SubmitInference message, TimeSpan deadline, Guid? requestId,
        Uri? responseAddress)
    {
        saga.TenantId = message.TenantId;
        saga.Model = message.Model;
        saga.Inputs = [.. message.Inputs];
        saga.InputCount = message.Inputs.Count;
        saga.PromptTokens = message.PromptTokens;
        saga.ReservedTokens = message.PromptTokens;
        saga.CreatedAt = message.SubmittedAt;
        saga.DeadlineAt = message.SubmittedAt + deadline;
        if (requestId is not null && responseAddress is not null)
        {
            saga.RequestId = requestId;
            saga.ResponseAddress = responseAddress;
        }
    }

    private static void Fail(InferenceState saga, string code, string message)
    {
        saga.ErrorCode = code;
        saga.ErrorMessage = message;
    }

    private static ReserveQuota Reserve(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        TenantId = saga.TenantId,
        Tokens = saga.ReservedTokens,
    };

    private static RunInference Run(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        Model = saga.Model,
        Inputs = saga.Inputs ?? [],
        NotAfter = saga.DeadlineAt,
    };

    private static SettleQuota Settle(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        TenantId = saga.TenantId,
        ActualTokens = saga.PromptTokens + saga.CompletionTokens,
    };

    private static ReleaseQuota Release(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        TenantId = saga.TenantId,
    };

    private static InferenceRejected Rejection(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        Code = saga.ErrorCode!,
        Message = saga.ErrorMessage!,
    };

    /// <summary>True when the message is the one that last moved the request, delivered again.</summary>
    private static bool IsRedelivery<TMessage>(BehaviorContext<InferenceState, TMessage> context)
        where TMessage : class =>
        context.MessageId is { } id && id == context.Saga.LastMessageId;

    private static void Record(InferenceState saga, Guid? messageId, TimeProvider clock)
    {
        if (!InferenceStatus.IsKnownState(saga.CurrentState))
            return;

        saga.LastMessageId = messageId;

        var now = clock.GetUtcNow();
        saga.UpdatedAt = now;
        saga.History.Add(new StatusChange(saga.CurrentState, now));

        // Inputs are needed only to dispatch the work; once the request has ended they are not kept.
        if (InferenceStatus.IsFinal(saga.CurrentState))
            saga.Inputs = null;
    }

    private static string Describe<T>(Fault<T> fault) =>
        fault.Exceptions.FirstOrDefault() is { } exception
            ? $"{exception.ExceptionType}: {exception.Message}"
            : "The step failed after its retries.";

    /// <summary>Answers the API's request for the quota decision, when somebody is waiting for it.</summary>
    private static async Task AnswerSubmitter<TMessage, TReply>(BehaviorContext<InferenceState, TMessage> context, TReply reply)
        where TMessage : class
        where TReply : class
    {
        if (context.Saga.ResponseAddress is not { } address || context.Saga.RequestId is not { } requestId)
            return;

        var endpoint = await context.GetSendEndpoint(address).ConfigureAwait(false);
        await endpoint.Send(reply, send => send.RequestId = requestId, context.CancellationToken).ConfigureAwait(false);

        context.Saga.ResponseAddress = null;
        context.Saga.RequestId = null;
    }
}
