using System.Reflection;
using MassTransit;

namespace Inference.Server.Persistence.Sagas;

/// <summary>
/// Which messages a saga's state machine handles read-only (an event correlated with <c>ReadOnly = true</c>, such as a
/// state query): the machine only reads the row and answers, so the repository reads it without a lock or a
/// transaction, and the answer needs no outbox, since nothing is committed that it must agree with.
/// </summary>
internal static class ReadOnlyEvents
{
    private static readonly MethodInfo FromMachineMethod =
        typeof(ReadOnlyEvents).GetMethod(nameof(FromMachine), BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>True when the state machine of <typeparamref name="TSaga"/> in <paramref name="services"/> correlates
    /// <typeparamref name="TMessage"/> read-only; false for any other saga or message.</summary>
    public static bool Handles<TSaga, TMessage>(IServiceProvider services)
        where TSaga : class, ISaga
        where TMessage : class
    {
        // Once per saga and message type: this is on every saga message's path.
        if (Cached<TSaga, TMessage>.Value is { } known)
            return known;

        // Remembered only once the answer came from a machine (or there can be none): a container without the machine
        // says nothing about one with it.
        var value = Find<TSaga, TMessage>(services);
        if (value is { } found)
            Cached<TSaga, TMessage>.Value = found;
        return value ?? false;
    }

    /// <summary>The machine's answer; null when the container holds no machine for <typeparamref name="TSaga"/>.</summary>
    private static bool? Find<TSaga, TMessage>(IServiceProvider services)
        where TSaga : class, ISaga
        where TMessage : class
    {
        if (!typeof(SagaStateMachineInstance).IsAssignableFrom(typeof(TSaga)))
            return false;

        var machineType = typeof(SagaStateMachine<>).MakeGenericType(typeof(TSaga));
        return services.GetService(machineType) is { } machine
            ? (bool)FromMachineMethod.MakeGenericMethod(typeof(TSaga), typeof(TMessage)).Invoke(null, [machine])!
            : null;
    }

    /// <summary>One saga type has one state machine in a process, so its answer for a message type never changes.</summary>
    private static class Cached<TSaga, TMessage>
    {
        public static bool? Value;
    }

    private static bool FromMachine<TInstance, TMessage>(SagaStateMachine<TInstance> machine)
        where TInstance : class, SagaStateMachineInstance
        where TMessage : class =>
        machine.Correlations.OfType<EventCorrelation<TInstance, TMessage>>().Any(correlation => correlation.Policy.IsReadOnly);
}
