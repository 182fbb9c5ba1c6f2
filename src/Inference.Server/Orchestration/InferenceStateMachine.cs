using Inference.Contracts;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Inference.Server.Orchestration;

/// <summary>
/// The life of one inference request. Reads like the diagram in docs/architecture.md: one block per state, in the
/// diagram's order, each saying what it handles and what it ignores; an event for an unknown request faults to the
/// error queue.
/// </summary>
/// <remarks>
/// What a transition sends leaves through the transactional outbox: it is committed with the saga row and delivered
/// after, at least once. So a redelivered message that already moved a request has nothing left to do and is ignored
/// like any other duplicate; the steps downstream act at most once per request.
/// </remarks>
public sealed class InferenceStateMachine : MassTransitStateMachine<InferenceState>
{
    internal static readonly Uri QuotaQueue = new($"queue:{InferenceEndpoints.Quota}");
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

        // Submissions over the bus; the API stores its requests in Submitted itself (see InferenceSubmissions). The bus
        // is an edge like REST: what no store can hold, or the platform would not run, is refused and never stored.
        Initially(
            When(SubmitInference)
                .IfElse(context => SubmissionRules.Check(context.Message) is null,
                    accepted => accepted
                        .Then(context => Accept(context.Saga, context.Message, deadline, context.RequestId, context.ResponseAddress))
                        .TransitionTo(Submitted)
                        .Send(QuotaQueue, context => Reserve(context.Saga)),
                    refused => refused
                        .ThenAsync(Refuse)
                        .Finalize()));
        SetCompletedWhenFinalized();

        During(Submitted,
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
                .Send(SettlementQueue, context => Release(context.Saga)),
            When(DeadlineReached)
                .Then(context => Fail(context.Saga, ErrorCodes.DeadlineExceeded, Overdue(context.Message)))
                .TransitionTo(Failed)
                .ThenAsync(context => AnswerSubmitter(context, Rejection(context.Saga)))
                // A reservation still on its way is released when it lands (see Failed).
                .Send(SettlementQueue, context => Release(context.Saga)),
            When(Resume).Send(QuotaQueue, context => Reserve(context.Saga)),
            Ignore(SubmitInference),
            Ignore(InferenceStarted),
            Ignore(InferenceSucceeded),
            Ignore(InferenceFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted));

        During(QuotaReserved,
            When(InferenceStarted).TransitionTo(Inferring),
            // Started and succeeded are published apart and may arrive in either order.
            When(InferenceSucceeded)
                .Then(context => RecordUsage(context.Saga, context.Message.Usage))
                .TransitionTo(Inferring)
                .Send(ResultsQueue, context => Store(context.Saga, context.Message)),
            When(InferenceFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.InferenceFailed, Describe(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)),
            When(DeadlineReached)
                .Then(context => Fail(context.Saga, ErrorCodes.DeadlineExceeded, Overdue(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)),
            // Queued work may have been lost with an embedded process: queue it again.
            When(Resume).Send(WorkerQueue, context => Run(context.Saga)),
            Ignore(SubmitInference),
            Ignore(QuotaGranted),
            Ignore(QuotaRefused),
            Ignore(QuotaFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted));

        During(Inferring,
            // The first success after the start, or another run's (resumed or redelivered work): the result store keeps
            // the first and confirms every later one.
            When(InferenceSucceeded)
                .Then(context => RecordUsage(context.Saga, context.Message.Usage))
                .Send(ResultsQueue, context => Store(context.Saga, context.Message)),
            When(ResultStored)
                .TransitionTo(Completed)
                .Send(SettlementQueue, context => Settle(context.Saga)),
            When(ResultStoreFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.ResultStoreFailed, Describe(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)),
            When(InferenceFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.InferenceFailed, Describe(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)),
            When(DeadlineReached)
                .Then(context => Fail(context.Saga, ErrorCodes.DeadlineExceeded, Overdue(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)),
            When(Resume).Send(WorkerQueue, context => Run(context.Saga)),
            Ignore(SubmitInference),
            Ignore(QuotaGranted),
            Ignore(QuotaRefused),
            Ignore(QuotaFaulted),
            Ignore(InferenceStarted));

        During(Completed,
            Ignore(SubmitInference),
            Ignore(QuotaGranted),
            Ignore(QuotaRefused),
            Ignore(QuotaFaulted),
            Ignore(InferenceStarted),
            Ignore(InferenceSucceeded),
            Ignore(InferenceFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted),
            Ignore(DeadlineReached),
            Ignore(Resume));

        // A reservation that lands after the request ended must not stay counted, nor one that faulted (the ledger may
        // have counted it before the fault): both are news, not duplicates.
        During([Failed, Canceled],
            When(QuotaGranted).Send(SettlementQueue, context => Release(context.Saga)),
            When(QuotaFaulted).Send(SettlementQueue, context => Release(context.Saga)),
            Ignore(SubmitInference),
            Ignore(QuotaRefused),
            Ignore(InferenceStarted),
            Ignore(InferenceSucceeded),
            Ignore(InferenceFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted),
            Ignore(DeadlineReached),
            Ignore(Resume));

        WhenEnterAny(binder => binder.Then(context => Enter(context.Saga, clock.GetUtcNow())));
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

    /// <summary>Fills a new request's row from its submission; the state and the history are set on entering Submitted.</summary>
    internal static void Accept(InferenceState saga, SubmitInference message, TimeSpan deadline, Guid? requestId, Uri? responseAddress)
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

    /// <summary>Records that the request entered its current state at <paramref name="now"/>.</summary>
    internal static void Enter(InferenceState saga, DateTimeOffset now)
    {
        if (!InferenceStatus.IsKnownState(saga.CurrentState))
            return;

        saga.UpdatedAt = now;
        saga.History.Add(new StatusChange(saga.CurrentState, now));

        // Inputs are needed only to dispatch the work; once the request has ended they are not kept.
        if (InferenceStatus.IsFinal(saga.CurrentState))
            saga.Inputs = null;
    }

    internal static ReserveQuota Reserve(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        TenantId = saga.TenantId,
        Tokens = saga.ReservedTokens,
    };

    /// <summary>
    /// Only SubmitInference creates a request. Anything else for an unknown id is faulted to the error queue: kept for
    /// an operator to see, never silently dropped and never retried forever.
    /// </summary>
    private static void Existing<TMessage>(IEventCorrelationConfigurator<InferenceState, TMessage> correlation)
        where TMessage : class =>
        correlation.OnMissingInstance(m => m.Fault());

    private static void Fail(InferenceState saga, string code, string message)
    {
        saga.ErrorCode = code;
        saga.ErrorMessage = message;
    }

    private static void RecordUsage(InferenceState saga, InferenceUsage usage)
    {
        saga.PromptTokens = usage.PromptTokens;
        saga.CompletionTokens = usage.CompletionTokens;
    }

    private static RunInference Run(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        Model = saga.Model,
        Inputs = saga.Inputs ?? [],
        NotAfter = saga.DeadlineAt,
    };

    private static StoreResult Store(InferenceState saga, InferenceSucceeded success) => new()
    {
        InferenceId = saga.CorrelationId,
        Output = success.Output,
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

    private static string Overdue(InferenceDeadlineReached deadline) =>
        $"The request did not finish by its deadline, {deadline.Deadline:O}.";

    private static string Describe<T>(Fault<T> fault) =>
        fault.Exceptions.FirstOrDefault() is { } exception
            ? $"{exception.ExceptionType}: {exception.Message}"
            : "The step failed after its retries.";

    /// <summary>Answers a bus submission that is refused at the door, when it was sent as a request.</summary>
    private static async Task Refuse(BehaviorContext<InferenceState, SubmitInference> context)
    {
        var refusal = SubmissionRules.Check(context.Message)!;
        if (context.RequestId is not { } requestId || context.ResponseAddress is not { } address)
            return;

        var endpoint = await context.GetSendEndpoint(address).ConfigureAwait(false);
        await endpoint.Send(new InferenceRejected
        {
            InferenceId = context.Message.InferenceId,
            Code = refusal.Code,
            Message = refusal.Message,
        }, send => send.RequestId = requestId, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>Answers the API's wait for the quota decision, when somebody is waiting for it.</summary>
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
