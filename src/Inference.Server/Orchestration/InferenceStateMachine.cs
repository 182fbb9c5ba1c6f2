using Inference.Contracts;
using MassTransit;

namespace Inference.Server.Orchestration;

/// <summary>
/// The life of one inference request. Reads like the diagram in docs/architecture.md: every event is handled or
/// explicitly ignored in every state it can arrive in, and an event for an unknown request faults to the error queue.
/// </summary>
public sealed class InferenceStateMachine : MassTransitStateMachine<InferenceState>
{
    private static readonly Uri QuotaQueue = new($"queue:{InferenceEndpoints.Quota}");
    private static readonly Uri WorkerQueue = new($"queue:{InferenceEndpoints.Worker}");
    private static readonly Uri ResultsQueue = new($"queue:{InferenceEndpoints.Results}");

    public InferenceStateMachine(TimeProvider clock)
    {
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

        Initially(
            When(SubmitInference)
                .Then(context => Accept(context.Saga, context.Message, context.RequestId, context.ResponseAddress))
                .TransitionTo(Submitted)
                .Send(QuotaQueue, context => new ReserveQuota
                {
                    InferenceId = context.Saga.CorrelationId,
                    TenantId = context.Saga.TenantId,
                    Tokens = context.Saga.ReservedTokens,
                }));

        During(Submitted,
            When(QuotaGranted)
                .TransitionTo(QuotaReserved)
                .ThenAsync(context => AnswerSubmitter(context, new InferenceAccepted
                {
                    InferenceId = context.Saga.CorrelationId,
                    ReservedTokens = context.Saga.ReservedTokens,
                }))
                .Send(WorkerQueue, context => new RunInference
                {
                    InferenceId = context.Saga.CorrelationId,
                    Model = context.Saga.Model,
                    Inputs = context.Saga.Inputs ?? [],
                }),
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
                .ThenAsync(context => AnswerSubmitter(context, new InferenceRejected
                {
                    InferenceId = context.Saga.CorrelationId,
                    Code = ErrorCodes.QuotaUnavailable,
                    Message = context.Saga.ErrorMessage!,
                }))
                // The reservation may have been counted before the fault; releasing an unknown reservation is a no-op.
                .Send(QuotaQueue, context => Release(context.Saga)));

        During(QuotaReserved, Inferring,
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
                .Send(QuotaQueue, context => Release(context.Saga)));

        During(QuotaReserved,
            When(InferenceStarted).TransitionTo(Inferring));

        During(Inferring,
            When(ResultStored)
                .TransitionTo(Completed)
                .Send(QuotaQueue, context => new SettleQuota
                {
                    InferenceId = context.Saga.CorrelationId,
                    TenantId = context.Saga.TenantId,
                    ActualTokens = context.Saga.PromptTokens + context.Saga.CompletionTokens,
                }),
            When(ResultStoreFaulted)
                .Then(context => Fail(context.Saga, ErrorCodes.ResultStoreFailed, Describe(context.Message)))
                .TransitionTo(Failed)
                .Send(QuotaQueue, context => Release(context.Saga)));

        // A reservation that lands after the request already ended must not stay counted.
        During(Failed, Canceled,
            When(QuotaGranted).Send(QuotaQueue, context => Release(context.Saga)));

        // Everything below was already acted upon: a redelivery, or a straggler from a step the request has left.
        DuringAny(
            Ignore(SubmitInference));
        During(Submitted,
            Ignore(InferenceStarted),
            Ignore(InferenceSucceeded),
            Ignore(InferenceFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted));
        During(QuotaReserved, Inferring,
            Ignore(QuotaGranted),
            Ignore(QuotaRefused),
            Ignore(QuotaFaulted));
        During(QuotaReserved,
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted));
        During(Inferring,
            Ignore(InferenceStarted));
        During(Completed,
            Ignore(QuotaGranted));
        During(Completed, Failed, Canceled,
            Ignore(QuotaRefused),
            Ignore(QuotaFaulted),
            Ignore(InferenceStarted),
            Ignore(InferenceSucceeded),
            Ignore(InferenceFaulted),
            Ignore(ResultStored),
            Ignore(ResultStoreFaulted));

        WhenEnterAny(binder => binder.Then(context => Record(context.Saga, clock)));
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

    /// <summary>
    /// Only SubmitInference creates a request. Anything else for an unknown id is faulted to the error queue: kept for
    /// an operator to see, never silently dropped and never retried forever.
    /// </summary>
    private static void Existing<TMessage>(IEventCorrelationConfigurator<InferenceState, TMessage> correlation)
        where TMessage : class =>
        correlation.OnMissingInstance(m => m.Fault());

    private static void Accept(InferenceState saga, SubmitInference message, Guid? requestId, Uri? responseAddress)
    {
        saga.TenantId = message.TenantId;
        saga.Model = message.Model;
        saga.Inputs = [.. message.Inputs];
        saga.InputCount = message.Inputs.Count;
        saga.PromptTokens = message.PromptTokens;
        saga.ReservedTokens = message.PromptTokens;
        saga.CreatedAt = message.SubmittedAt;
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

    private static ReleaseQuota Release(InferenceState saga) => new()
    {
        InferenceId = saga.CorrelationId,
        TenantId = saga.TenantId,
    };

    private static void Record(InferenceState saga, TimeProvider clock)
    {
        if (!InferenceStatus.IsKnownState(saga.CurrentState))
            return;

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
