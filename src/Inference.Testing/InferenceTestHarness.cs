using System.Diagnostics;
using Inference.Contracts;
using Inference.Orchestration;
using Inference.Orchestration.Protocol;
using MassTransit;
using MassTransit.Testing;

namespace Inference.Testing;

/// <summary>
/// The inference platform in a test: its real state machine on MassTransit's in-memory test harness, with the model,
/// the quota, the submission gate, the result store and the clock scripted. Get it with
/// <see cref="InferenceTestHarnessExtensions.GetInferenceTestHarness"/> and start it with <see cref="StartAsync"/>.
/// </summary>
/// <remarks>
/// Everything goes over the bus as it does against the platform: submissions, status queries and cancels are sent to
/// <see cref="InferenceEndpoints.OrchestratorAddress"/>, and outcomes are the published events. The helpers only save
/// typing; a test may use <see cref="TestHarness"/> directly.
/// </remarks>
public sealed class InferenceTestHarness : IDisposable
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(20);

    private readonly InferenceScript _script;
    private readonly ScriptedQuotaLedger _ledger;
    private readonly InMemoryResultStore _results;
    private readonly ScriptedRuns _runs;
    private readonly TimeSpan _timeout;

    internal InferenceTestHarness(ITestHarness testHarness, InferenceTestClock clock, InferenceScript script,
        ScriptedQuotaLedger ledger, InMemoryResultStore results, ScriptedRuns runs, InferenceTestHarnessOptions options)
    {
        _runs = runs;
        TestHarness = testHarness;
        Clock = clock;
        _script = script;
        _ledger = ledger;
        _results = results;
        _timeout = options.Timeout;
    }

    /// <summary>MassTransit's test harness: the bus, and every message sent, published and consumed.</summary>
    public ITestHarness TestHarness { get; }

    /// <summary>The platform's saga, for assertions on its instances (<c>Sagas</c>) and what it consumed.</summary>
    public ISagaStateMachineTestHarness<InferenceStateMachine, InferenceState> Saga =>
        TestHarness.GetSagaStateMachineHarness<InferenceStateMachine, InferenceState>();

    /// <summary>The platform's clock: it stands still until advanced.</summary>
    public InferenceTestClock Clock { get; }

    /// <summary>Starts the bus; call once, before anything else.</summary>
    public Task StartAsync() => TestHarness.Start();

    /// <summary>A tenant the harness knows (added when new), to script.</summary>
    public ScriptedTenant Tenant(string id) => _script.Tenant(id);

    /// <summary>A model the harness serves (added when new), to script.</summary>
    public ScriptedModel Model(string id) => _script.Model(id);

    /// <summary>Forgets a tenant: its next submissions are refused with <c>tenant_not_found</c>.</summary>
    public bool RemoveTenant(string id) => _script.RemoveTenant(id);

    /// <summary>Stops serving a model: its next submissions are refused with <c>model_not_found</c>.</summary>
    public bool RemoveModel(string id) => _script.RemoveModel(id);

    /// <summary>Sends <paramref name="submission"/> as a command, as a service that does not wait for the quota decision.</summary>
    public async Task SendAsync(SubmitInference submission, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var endpoint = await TestHarness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress).ConfigureAwait(false);
        await endpoint.Send(submission, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends <paramref name="submission"/> as a request and waits for the answer: <see cref="InferenceAccepted"/> once quota
    /// is reserved, or <see cref="InferenceRejected"/> (refused at the door, or over quota).
    /// </summary>
    public Task<Response<InferenceAccepted, InferenceRejected>> SubmitAsync(SubmitInference submission,
        CancellationToken cancellationToken = default) =>
        Client<SubmitInference>().GetResponse<InferenceAccepted, InferenceRejected>(submission, cancellationToken);

    /// <summary>Asks where a request stands: <see cref="InferenceStatus"/>, or <see cref="InferenceNotFound"/>.</summary>
    public Task<Response<InferenceStatus, InferenceNotFound>> GetStatusAsync(Guid inferenceId, string? tenantId = null,
        CancellationToken cancellationToken = default) =>
        Client<GetInferenceStatus>().GetResponse<InferenceStatus, InferenceNotFound>(
            new GetInferenceStatus { InferenceId = inferenceId, TenantId = tenantId }, cancellationToken);

    /// <summary>
    /// Cancels a request: answered with its new <see cref="InferenceStatus"/>, <see cref="CancelInferenceRejected"/> when it
    /// had already ended, or <see cref="InferenceNotFound"/>.
    /// </summary>
    public Task<Response<InferenceStatus, CancelInferenceRejected, InferenceNotFound>> CancelAsync(Guid inferenceId,
        string? tenantId = null, CancellationToken cancellationToken = default) =>
        Client<CancelInference>().GetResponse<InferenceStatus, CancelInferenceRejected, InferenceNotFound>(
            new CancelInference { InferenceId = inferenceId, TenantId = tenantId }, cancellationToken);

    /// <summary>Waits for the request's outcome event; throws <see cref="TimeoutException"/> when none comes in time.</summary>
    public async Task<InferenceOutcome> WaitForOutcomeAsync(Guid inferenceId, CancellationToken cancellationToken = default) =>
        await Until(() => Outcomes(inferenceId).FirstOrDefault(), $"an outcome of request {inferenceId}", inferenceId, cancellationToken)
            .ConfigureAwait(false);

    /// <summary>Waits until the request is in <paramref name="status"/> (one of <see cref="InferenceStatusNames"/>).</summary>
    public async Task WaitForStatusAsync(Guid inferenceId, string status, CancellationToken cancellationToken = default)
    {
        var state = InferenceStates.FromApi(status)
            ?? throw new ArgumentOutOfRangeException(nameof(status), status, "Not one of InferenceStatusNames.");
        await Until(() => CurrentState(inferenceId) == state ? (object)state : null, $"request {inferenceId} to be {status}",
            inferenceId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Every outcome event published for the request so far: one once it has ended, none before. The platform publishes
    /// exactly one; a test that checks this should first let the bus go quiet (<c>TestHarness.InactivityTask</c>).
    /// </summary>
    public IReadOnlyList<InferenceOutcome> Outcomes(Guid inferenceId) =>
    [
        .. TestHarness.Published.Select<InferenceCompleted>(x => x.Context.Message.InferenceId == inferenceId)
            .Select(x => new InferenceOutcome { InferenceId = inferenceId, Completed = x.Context.Message }),
        .. TestHarness.Published.Select<InferenceFailed>(x => x.Context.Message.InferenceId == inferenceId)
            .Select(x => new InferenceOutcome { InferenceId = inferenceId, Failed = x.Context.Message }),
        .. TestHarness.Published.Select<InferenceCanceled>(x => x.Context.Message.InferenceId == inferenceId)
            .Select(x => new InferenceOutcome { InferenceId = inferenceId, Canceled = x.Context.Message }),
    ];

    /// <summary>
    /// Fires the deadlines that have passed by <see cref="Clock"/>, as the platform's deadline sweeper does: every
    /// unfinished request whose deadline is due is sent <see cref="InferenceDeadlineReached"/>. One with a
    /// <c>CancelAfter</c> is then canceled (<c>cancel_after_elapsed</c>), any other fails (<c>deadline_exceeded</c>).
    /// Returns once each of them has ended.
    /// </summary>
    /// <returns>The requests whose deadline was fired.</returns>
    public async Task<IReadOnlyList<Guid>> ExpireDeadlinesAsync(CancellationToken cancellationToken = default)
    {
        var now = Clock.GetUtcNow();
        // The harness's saga list waits for the bus to go quiet when enumerated; looking requests up by id does not.
        var due = _script.Admitted.Select(id => Saga.Sagas.Contains(id))
            .Where(x => x is not null && !InferenceStates.IsFinal(x.CurrentState) && x.DeadlineAt <= now)
            .Select(x => (x!.CorrelationId, x.DeadlineAt)).ToList();
        if (due.Count == 0)
            return [];

        var endpoint = await TestHarness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress).ConfigureAwait(false);
        foreach (var (id, deadline) in due)
            await endpoint.Send(new InferenceDeadlineReached { InferenceId = id, Deadline = deadline }, cancellationToken).ConfigureAwait(false);

        foreach (var (id, _) in due)
        {
            await Until(() => CurrentState(id) is { } state && InferenceStates.IsFinal(state) ? state : null,
                $"request {id} to end at its deadline", id, cancellationToken).ConfigureAwait(false);
        }

        return [.. due.Select(x => x.CorrelationId)];
    }

    /// <summary>Moves <see cref="Clock"/> forward by <paramref name="by"/> and fires the deadlines that have passed.</summary>
    /// <returns>The requests whose deadline was fired.</returns>
    public Task<IReadOnlyList<Guid>> AdvanceAsync(TimeSpan by, CancellationToken cancellationToken = default)
    {
        Clock.Advance(by);
        return ExpireDeadlinesAsync(cancellationToken);
    }

    /// <summary>The output stored for a request (the first, if its work ran twice), or null when none was stored.</summary>
    public InferenceOutput? StoredResult(Guid inferenceId) => _results.Find(inferenceId);

    /// <summary>Tokens charged to a tenant for its completed requests: their actual usage.</summary>
    public long ChargedTokens(string tenantId) => _ledger.Charged(tenantId);

    /// <summary>Tokens reserved for a tenant's requests that have not ended; released in full when one fails or is canceled.</summary>
    public long HeldTokens(string tenantId) => _ledger.Held(tenantId);

    /// <summary>Stops the scripted model's runs still waiting out their delay (the bus also stops them when it stops).</summary>
    public void Dispose() => _runs.Dispose();

    private IRequestClient<T> Client<T>()
        where T : class =>
        TestHarness.Bus.CreateRequestClient<T>(InferenceEndpoints.OrchestratorAddress, RequestTimeout.After(ms: (int)_timeout.TotalMilliseconds));

    private string? CurrentState(Guid inferenceId) => Saga.Sagas.Contains(inferenceId)?.CurrentState;

    private async Task<T> Until<T>(Func<T?> read, string waitingFor, Guid inferenceId, CancellationToken cancellationToken)
        where T : class
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (read() is { } value)
                return value;
            if (clock.Elapsed > _timeout)
            {
                throw new TimeoutException(
                    $"Waited {_timeout.TotalSeconds:0.#} s for {waitingFor}; it is {CurrentState(inferenceId) ?? "unknown to the saga"}.");
            }

            await Task.Delay(PollEvery, cancellationToken).ConfigureAwait(false);
        }
    }
}
