using Inference.Contracts;
using Inference.Orchestration.Protocol;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Inference.Orchestration;

/// <summary>
/// The life of one inference request. Reads like the diagram in docs/architecture.md: one block per state, in the
/// diagram's order, each saying what it handles and what it ignores; an event for an unknown request faults to the
/// error queue.
/// </summary>
/// <remarks>
/// What a transition sends leaves through the transactional outbox: it is committed with the saga row and delivered
/// after, at least once. So a redelivered message that already moved a request has nothing left to do and is ignored
/// like any other duplicate; the steps downstream act at most once per request, and each request publishes one outcome
/// event (<see cref="InferenceCompleted"/>, <see cref="InferenceFailed"/> or <see cref="InferenceCanceled"/>) on the
/// transition that ends it.
/// </remarks>
public sealed class InferenceStateMachine : MassTransitStateMachine<InferenceState>
{
    internal static readonly Uri QuotaQueue = new($"queue:{ProtocolEndpoints.Quota}");
    private static readonly Uri SettlementQueue = new($"queue:{ProtocolEndpoints.QuotaSettlements}");
    private static readonly Uri ResultsQueue = new($"queue:{ProtocolEndpoints.Results}");

    /// <summary>The queue of the workers that serve <paramref name="model"/>: the saga routes each request by its model.</summary>
    private static Uri WorkerQueue(string model) => new($"queue:{ProtocolEndpoints.WorkerFor(model)}");

    public InferenceStateMachine(TimeProvider clock, IOptions<OrchestrationOptions> options)
    {
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(options);
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
        // Questions about a request that does not exist are answered, not faulted: the asker is told so.
        Event(() => CancelRequested, e => e.CorrelateById(m => m.Message.InferenceId)
            .OnMissingInstance(m => m.ExecuteAsync(context => Answer(context, NotFound(context.Message.InferenceId)))));
        Event(() => StatusRequested, e =>
        {
            e.CorrelateById(m => m.Message.InferenceId);
            e.ReadOnly = true;
            e.OnMissingInstance(m => m.ExecuteAsync(context => Answer(context, NotFound(context.Message.InferenceId))));
        });

        // First, so that what runs on entering a state (the outcome events) sees the time it was entered.
        WhenEnterAny(binder => binder.Then(context => Enter(context.Saga, clock.GetUtcNow())));

        // Submissions over the bus; the API stores its requests in Submitted itself (see InferenceSubmissions). The bus
        // is an edge like REST: what no store can hold, what the platform would not run, and a tenant that may not submit
        // are refused with REST's error codes and never stored.
        Initially(
            When(SubmitInference)
                .ThenAsync(context => Admit(context, clock.GetUtcNow(), deadline))
                .IfElse(context => context.Saga.ErrorCode is null,
                    admitted => admitted
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
                .Send(context => WorkerQueue(context.Saga.Model), context => Run(context.Saga)),
            When(QuotaRefused)
                .Then(context => Fail(context.Saga, QuotaRefusals.CodeOf(context.Message.Limit), Describe(context.Message, context.Saga)))
                .TransitionTo(Failed)
                .ThenAsync(context => AnswerSubmitter(context, new InferenceRejected
                {
                    InferenceId = context.Saga.CorrelationId,
                    Code = context.Saga.ErrorCode!,
                    Message = context.Saga.ErrorMessage!,
                    Limit = QuotaRefusals.LimitOf(context.Saga.ErrorCode!),
                    LimitValue = context.Message.LimitValue,
                    Used = context.Message.Used,
                    Requested = RequestedOf(context.Message, context.Saga),
                    RetryAfter = context.Message.RetryAfter,
                })),
            When(QuotaFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.QuotaUnavailable, "The quota service could not decide on this request."))
                .TransitionTo(Failed)
                .ThenAsync(context => AnswerSubmitter(context, Rejection(context.Saga)))
                // The reservation may have been counted before the fault; releasing an unknown reservation is a no-op.
                .Send(SettlementQueue, context => Release(context.Saga)),
            // A reservation still on its way is released when it lands (see Failed and Canceled).
            Overdue(When(DeadlineReached)),
            Cancel(When(CancelRequested)),
            When(Resume).Send(QuotaQueue, context => Reserve(context.Saga)),
            Ignore(SubmitInference),
            Ignore(InferenceStarted),
            Ignore(InferenceSucceeded),
            Ignore(InferenceFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted));

        During(QuotaReserved,
            When(InferenceStarted).TransitionTo(Inferring),
            // Started and succeeded are published apart and may arrive in either order. A result after the deadline ends
            // the request as the deadline would; the sweeper may not have come yet.
            When(InferenceSucceeded).IfElse(context => IsOverdue(context.Saga, clock),
                Overdue,
                inTime => inTime
                    .Then(context => RecordUsage(context.Saga, context.Message.Usage))
                    .TransitionTo(Inferring)
                    .Send(ResultsQueue, context => Store(context.Saga, context.Message))),
            When(InferenceFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.InferenceFailed, Describe(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)),
            Overdue(When(DeadlineReached)),
            Cancel(When(CancelRequested)),
            // Queued work may have been lost with an embedded process: queue it again.
            When(Resume).Send(context => WorkerQueue(context.Saga.Model), context => Run(context.Saga)),
            Ignore(SubmitInference),
            Ignore(QuotaGranted),
            Ignore(QuotaRefused),
            Ignore(QuotaFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted));

        During(Inferring,
            // A result after the deadline is discarded and the request ends as the deadline would: what the submitter
            // gave up on is never charged, however late the sweeper comes.
            // The first success after the start, or another run's (resumed or redelivered work): the result store keeps
            // the first and confirms every later one.
            When(InferenceSucceeded).IfElse(context => IsOverdue(context.Saga, clock),
                Overdue,
                inTime => inTime
                    .Then(context => RecordUsage(context.Saga, context.Message.Usage))
                    .Send(ResultsQueue, context => Store(context.Saga, context.Message))),
            When(ResultStored).IfElse(context => IsOverdue(context.Saga, clock),
                Overdue,
                inTime => inTime
                    .TransitionTo(Completed)
                    .Send(SettlementQueue, context => Settle(context.Saga))
                    .Publish(context => Completion(context.Saga, context.Message))),
            When(ResultStoreFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.ResultStoreFailed, Describe(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)),
            When(InferenceFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.InferenceFailed, Describe(context.Message)))
                .TransitionTo(Failed)
                .Send(SettlementQueue, context => Release(context.Saga)),
            Overdue(When(DeadlineReached)),
            // The worker running it hears of the cancel from InferenceCanceled and stops the model.
            Cancel(When(CancelRequested)),
            When(Resume).Send(context => WorkerQueue(context.Saga.Model), context => Run(context.Saga)),
            Ignore(SubmitInference),
            Ignore(QuotaGranted),
            Ignore(QuotaRefused),
            Ignore(QuotaFaulted),
            Ignore(InferenceStarted));

        During(Completed,
            When(CancelRequested).ThenAsync(AlreadyFinal),
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
        // have counted it before the fault): both are news, not duplicates. A result that lands is discarded.
        During([Failed, Canceled],
            When(QuotaGranted).Send(SettlementQueue, context => Release(context.Saga)),
            When(QuotaFaulted).Send(SettlementQueue, context => Release(context.Saga)),
            When(CancelRequested).ThenAsync(AlreadyFinal),
            Ignore(SubmitInference),
            Ignore(QuotaRefused),
            Ignore(InferenceStarted),
            Ignore(InferenceSucceeded),
            Ignore(InferenceFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted),
            Ignore(DeadlineReached),
            Ignore(Resume));

        // Answered in every state, changing nothing (the event is read-only: the row is not written).
        DuringAny(
            When(StatusRequested).ThenAsync(context => Owns(context.Saga, context.Message.TenantId)
                ? Answer(context, Status(context.Saga))
                : Answer(context, NotFound(context.Saga.CorrelationId))));

        // The outcome events: once per request, on the transition that ends it.
        WhenEnter(Failed, binder => binder.Publish(context => Failure(context.Saga)));
        WhenEnter(Canceled, binder => binder.Publish(context => Cancellation(context.Saga)));
    }

    public State Submitted { get; private set; } = null!;

    public State QuotaReserved { get; private set; } = null!;

    public State Inferring { get; private set; } = null!;

    public State Completed { get; private set; } = null!;

    public State Failed { get; private set; } = null!;

    public State Canceled { get; private set; } = null!;

    public Event<SubmitInference> SubmitInference { get; private set; } = null!;

    /// <summary><see cref="Protocol.QuotaReserved"/>: named apart from the state it leads to.</summary>
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

    /// <summary><see cref="Contracts.CancelInference"/>, from an integrator or the REST API.</summary>
    public Event<CancelInference> CancelRequested { get; private set; } = null!;

    /// <summary><see cref="GetInferenceStatus"/>.</summary>
    public Event<GetInferenceStatus> StatusRequested { get; private set; } = null!;

    /// <summary>
    /// Fills a new request's row from its submission; the state and the history are set on entering Submitted.
    /// </summary>
    /// <param name="saga">The new row.</param>
    /// <param name="message">The submission, which has passed <see cref="SubmissionRules"/>.</param>
    /// <param name="promptTokens">The tokens its inputs hold, counted by the platform.</param>
    /// <param name="parameters">For a text-generation model, the parameters it runs with, resolved by
    /// <see cref="GenerationRules.Resolve"/>: the reservation adds their <c>MaxTokens</c> to the prompt's. Null otherwise.</param>
    /// <param name="now">The platform's clock, for a submission that does not say when it was made.</param>
    /// <param name="deadline">The platform's deadline for every request.</param>
    /// <param name="requestId">The submitter's request id, when it waits for the quota decision.</param>
    /// <param name="responseAddress">Where to answer it.</param>
    internal static void Accept(InferenceState saga, SubmitInference message, int promptTokens, GenerationParameters? parameters,
        DateTimeOffset now, TimeSpan deadline, Guid? requestId, Uri? responseAddress)
    {
        // Milliseconds are what every store keeps, so the time an answer shows is the one a later read shows.
        var submittedAt = SubmittedAt(message, now);
        submittedAt = submittedAt.AddTicks(-(submittedAt.Ticks % TimeSpan.TicksPerMillisecond));

        saga.TenantId = message.TenantId;
        saga.Model = message.Model;
        saga.Inputs = [.. message.Inputs];
        saga.InputCount = message.Inputs.Count;
        saga.PromptTokens = promptTokens;
        // A generation may use all of its max_tokens; the settlement charges what it did use.
        saga.Parameters = parameters;
        saga.ReservedTokens = promptTokens + (long)(parameters?.MaxTokens ?? 0);
        saga.CreatedAt = submittedAt;
        saga.DeadlineAt = submittedAt + deadline;
        if (message.CancelAfter is { } cancelAfter && submittedAt + cancelAfter <= saga.DeadlineAt)
        {
            saga.CancelAt = submittedAt + cancelAfter;
            saga.DeadlineAt = saga.CancelAt.Value;
        }

        if (requestId is not null && responseAddress is not null)
        {
            saga.RequestId = requestId;
            saga.ResponseAddress = responseAddress;
        }
    }

    /// <summary>
    /// When a submission's deadlines count from: the submitter's time, but never later than the platform's clock. A
    /// request dated in the future would otherwise put its deadline out of the sweeper's reach and never end.
    /// </summary>
    private static DateTimeOffset SubmittedAt(SubmitInference message, DateTimeOffset now) =>
        (message.SubmittedAt is { } at && at < now ? at : now).ToUniversalTime();

    /// <summary>Records that the request entered its current state at <paramref name="now"/>.</summary>
    internal static void Enter(InferenceState saga, DateTimeOffset now)
    {
        if (!InferenceStates.IsKnownState(saga.CurrentState))
            return;

        saga.UpdatedAt = now;
        saga.History.Add(new StatusChange(saga.CurrentState, now));

        // Inputs are needed only to dispatch the work; once the request has ended they are not kept.
        if (InferenceStates.IsFinal(saga.CurrentState))
            saga.Inputs = null;
    }

    internal static ReserveQuota Reserve(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        TenantId = saga.TenantId,
        Tokens = saga.ReservedTokens,
        NotAfter = saga.DeadlineAt == default ? null : saga.DeadlineAt,
    };

    /// <summary>What <see cref="GetInferenceStatus"/> and <see cref="Contracts.CancelInference"/> answer.</summary>
    public static InferenceStatus Status(InferenceState saga)
    {
        ArgumentNullException.ThrowIfNull(saga);
        var charged = saga.CurrentState is not (InferenceStates.Failed or InferenceStates.Canceled);
        return new()
        {
            InferenceId = saga.CorrelationId,
            TenantId = saga.TenantId,
            Model = saga.Model,
            Status = InferenceStates.ToApi(saga.CurrentState),
            IsFinal = InferenceStates.IsFinal(saga.CurrentState),
            Usage = new()
            {
                PromptTokens = charged ? saga.PromptTokens : 0,
                CompletionTokens = charged ? saga.CompletionTokens : 0,
            },
            Error = saga.ErrorCode is null ? null : new() { Code = saga.ErrorCode, Message = saga.ErrorMessage ?? saga.ErrorCode },
            History = [.. saga.History.Select(change => new InferenceStatusChange { Status = InferenceStates.ToApi(change.State), At = change.At })],
            CreatedAt = saga.CreatedAt,
            UpdatedAt = saga.UpdatedAt,
        };
    }

    /// <summary>
    /// Only SubmitInference creates a request. Anything else for an unknown id is faulted to the error queue: kept for
    /// an operator to see, never silently dropped and never retried forever.
    /// </summary>
    private static void Existing<TMessage>(IEventCorrelationConfigurator<InferenceState, TMessage> correlation)
        where TMessage : class =>
        correlation.OnMissingInstance(m => m.Fault());

    /// <summary>
    /// A request past its deadline, told by the sweeper or found by a late result: the submitter's deadline cancels, the
    /// platform's fails; the reservation is released either way.
    /// </summary>
    private EventActivityBinder<InferenceState, TMessage> Overdue<TMessage>(EventActivityBinder<InferenceState, TMessage> when)
        where TMessage : class =>
        when.IfElse(context => context.Saga.CancelAt is not null,
            canceled => canceled
                .Then(context => Fail(context.Saga, ErrorCodes.CancelAfterElapsed,
                    $"The request was canceled at its Cancel-After time, {context.Saga.DeadlineAt:O}."))
                .TransitionTo(Canceled)
                .ThenAsync(context => AnswerSubmitter(context, Rejection(context.Saga)))
                .Send(SettlementQueue, context => Release(context.Saga)),
            failed => failed
                .Then(context => Fail(context.Saga, ErrorCodes.DeadlineExceeded,
                    $"The request did not finish by its deadline, {context.Saga.DeadlineAt:O}."))
                .TransitionTo(Failed)
                .ThenAsync(context => AnswerSubmitter(context, Rejection(context.Saga)))
                .Send(SettlementQueue, context => Release(context.Saga)));

    /// <summary>True once the request's deadline has passed (a row without one is left to the sweeper).</summary>
    private static bool IsOverdue(InferenceState saga, TimeProvider clock) =>
        saga.DeadlineAt != default && clock.GetUtcNow() > saga.DeadlineAt;

    /// <summary>A cancel of a request that has not ended: canceled, released in full, answered with its new status.</summary>
    private EventActivityBinder<InferenceState, CancelInference> Cancel(EventActivityBinder<InferenceState, CancelInference> when) =>
        when.IfElse(context => Owns(context.Saga, context.Message.TenantId),
            owned => owned
                .Then(context => Fail(context.Saga, ErrorCodes.Canceled, "The request was canceled."))
                .TransitionTo(Canceled)
                // A submitter still waiting for the quota decision learns that the request ended before it ran.
                .ThenAsync(context => AnswerSubmitter(context, Rejection(context.Saga)))
                .Send(SettlementQueue, context => Release(context.Saga))
                .ThenAsync(context => Answer(context, Status(context.Saga))),
            foreign => foreign.ThenAsync(context => Answer(context, NotFound(context.Saga.CorrelationId))));

    private static Task AlreadyFinal(BehaviorContext<InferenceState, CancelInference> context) =>
        Owns(context.Saga, context.Message.TenantId)
            ? Answer(context, new CancelInferenceRejected
            {
                InferenceId = context.Saga.CorrelationId,
                Code = ErrorCodes.InferenceFinal,
                Message = $"The request has already ended: it is {InferenceStates.ToApi(context.Saga.CurrentState)}.",
                Status = Status(context.Saga),
            })
            : Answer(context, NotFound(context.Saga.CorrelationId));

    /// <summary>True when no tenant is named, or the request is that tenant's.</summary>
    private static bool Owns(InferenceState saga, string? tenantId) =>
        tenantId is null || string.Equals(saga.TenantId, tenantId, StringComparison.Ordinal);

    private static InferenceNotFound NotFound(Guid id) => new() { InferenceId = id };

    /// <summary>Checks a bus submission and fills the new row, or records on it why the submission is refused.</summary>
    private static async Task Admit(BehaviorContext<InferenceState, SubmitInference> context, DateTimeOffset now, TimeSpan deadline)
    {
        var refusal = SubmissionRules.Check(context.Message, deadline);
        if (refusal is null)
        {
            var gate = context.GetServiceOrCreateInstance<ISubmissionGate>();
            var decision = await gate.CheckAsync(context.Message, context.CancellationToken).ConfigureAwait(false);
            refusal = decision.Refusal;
            if (refusal is null)
            {
                Accept(context.Saga, context.Message, decision.PromptTokens, decision.Parameters, now, deadline, context.RequestId,
                    context.ResponseAddress);
                return;
            }
        }

        Fail(context.Saga, refusal.Code, refusal.Message);
        context.Saga.TenantId = context.Message.TenantId ?? "";
        context.Saga.Model = context.Message.Model ?? "";
        context.Saga.CreatedAt = SubmittedAt(context.Message, now);
        context.Saga.UpdatedAt = now;
    }

    private static void Fail(InferenceState saga, string code, string message)
    {
        saga.ErrorCode = code;
        saga.ErrorMessage = message.Length <= InferenceState.MaxErrorMessageLength
            ? message
            : string.Concat(message.AsSpan(0, InferenceState.MaxErrorMessageLength - 1), "…");
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
        Parameters = saga.Parameters,
        Stream = saga.Stream,
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

    private static InferenceCompleted Completion(InferenceState saga, ResultStored stored) => new()
    {
        InferenceId = saga.CorrelationId,
        TenantId = saga.TenantId,
        Model = saga.Model,
        Usage = new() { PromptTokens = saga.PromptTokens, CompletionTokens = saga.CompletionTokens },
        Output = stored.Output ?? new InferenceOutput(),
        SubmittedAt = saga.CreatedAt,
        CompletedAt = saga.UpdatedAt,
    };

    private static InferenceFailed Failure(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        TenantId = saga.TenantId,
        Model = saga.Model,
        Error = new() { Code = saga.ErrorCode ?? ErrorCodes.InferenceFailed, Message = saga.ErrorMessage ?? "" },
        SubmittedAt = saga.CreatedAt,
        FailedAt = saga.UpdatedAt,
    };

    private static InferenceCanceled Cancellation(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        TenantId = saga.TenantId,
        Model = saga.Model,
        Reason = new() { Code = saga.ErrorCode ?? ErrorCodes.Canceled, Message = saga.ErrorMessage ?? "" },
        SubmittedAt = saga.CreatedAt,
        CanceledAt = saga.UpdatedAt,
    };

    /// <summary>What the refused window was asked for; a quota service from before <see cref="QuotaRejected.Requested"/>
    /// refused only token windows.</summary>
    private static long RequestedOf(QuotaRejected refusal, InferenceState saga) =>
        refusal.Requested > 0 ? refusal.Requested : saga.ReservedTokens;

    private static string Describe(QuotaRejected refusal, InferenceState saga)
    {
        var code = QuotaRefusals.CodeOf(refusal.Limit);
        var limit = QuotaRefusals.LimitOf(code);
        var used = refusal.Used > 0 || refusal.Requested > 0 ? refusal.Used : refusal.LimitValue - refusal.Remaining;
        var requested = RequestedOf(refusal, saga);
        var unit = code switch
        {
            ErrorCodes.RateLimitRequests => "requests",
            ErrorCodes.ConcurrencyLimit => "unfinished requests",
            _ => "tokens",
        };
        var retry = refusal.RetryAfter is null
            ? "it can never fit."
            : $"retry after {Math.Ceiling(refusal.RetryAfter.Value.TotalSeconds):0} s.";
        return FormattableString.Invariant(
            $"The plan's {limit} of {refusal.LimitValue} {unit} has {used} used; this request needs {requested}: {retry}");
    }

    private static string Describe<T>(Fault<T> fault) =>
        fault.Exceptions.FirstOrDefault() is { } exception
            ? $"{exception.ExceptionType}: {exception.Message}"
            : "The step failed after its retries.";

    /// <summary>
    /// A bus submission refused at the door: answered when it was sent as a request, and published as its outcome
    /// either way. Nothing is stored.
    /// </summary>
    private static async Task Refuse(BehaviorContext<InferenceState, SubmitInference> context)
    {
        await Answer(context, Rejection(context.Saga)).ConfigureAwait(false);

        // Nothing is stored, so a redelivered or repeated submission is refused again: the outcome keeps one message id per
        // request, and a subscriber that drops repeated message ids sees it once.
        var messageId = RefusalMessageId(context.Saga.CorrelationId);
        await context.Publish(Failure(context.Saga), publish => publish.MessageId = messageId, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>The message id of a refused submission's <see cref="InferenceFailed"/>: the same for every refusal of one id.</summary>
    internal static Guid RefusalMessageId(Guid inferenceId)
    {
        Span<byte> bytes = stackalloc byte[16];
        inferenceId.TryWriteBytes(bytes);
        bytes[0] ^= 0x5a; // not the request's own id, which the API and integrators use for other things
        return new Guid(bytes);
    }

    /// <summary>Answers a message sent as a request; a command (no response address) is not answered.</summary>
    private static async Task Answer<TMessage, TReply>(ConsumeContext<TMessage> context, TReply reply)
        where TMessage : class
        where TReply : class
    {
        if (context.RequestId is not { } requestId || context.ResponseAddress is not { } address)
            return;

        var endpoint = await context.GetSendEndpoint(address).ConfigureAwait(false);
        await endpoint.Send(reply, send => send.RequestId = requestId, context.CancellationToken).ConfigureAwait(false);
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
