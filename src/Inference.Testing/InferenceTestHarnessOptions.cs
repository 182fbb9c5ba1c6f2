using Inference.Orchestration;
using MassTransit;

namespace Inference.Testing;

/// <summary>
/// How <see cref="InferenceTestHarnessExtensions.AddInferenceTestHarness"/> sets the harness up: the tenants and models
/// it knows at start, the platform's deadline, the test clock's start, and the test's own bus registrations.
/// </summary>
public sealed class InferenceTestHarnessOptions
{
    private readonly List<Action<IBusRegistrationConfigurator>> _bus = [];

    internal InferenceScript Script { get; } = new();

    /// <summary>The platform's deadline for every request (<see cref="OrchestrationOptions.RequestDeadline"/>): a
    /// request unfinished this long after submission fails with <c>deadline_exceeded</c> once the deadlines are fired.</summary>
    public TimeSpan RequestDeadline { get; set; } = new OrchestrationOptions().RequestDeadline;

    /// <summary>Where the test clock starts; the current time when null.</summary>
    public DateTimeOffset? StartTime { get; set; }

    /// <summary>How long the harness's helpers wait for an outcome, a status or a reply before they give up.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>MassTransit's <c>TestInactivityTimeout</c>: how long the bus must be quiet for the harness to call it idle.</summary>
    public TimeSpan InactivityTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A tenant the harness knows (added when new): enabled, admitting every reservation, until scripted otherwise.</summary>
    public ScriptedTenant Tenant(string id) => Script.Tenant(id);

    /// <summary>A model the harness serves (added when new): fake embeddings at once, until scripted otherwise.</summary>
    public ScriptedModel Model(string id) => Script.Model(id);

    /// <summary>
    /// Registers the test's own consumers, sagas or request clients on the same bus (MassTransit allows one
    /// <c>AddMassTransit</c> per container), for example the service's consumer of <c>InferenceCompleted</c>.
    /// </summary>
    public InferenceTestHarnessOptions ConfigureBus(Action<IBusRegistrationConfigurator> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _bus.Add(configure);
        return this;
    }

    internal void ApplyBus(IBusRegistrationConfigurator bus)
    {
        foreach (var configure in _bus)
            configure(bus);
    }
}
