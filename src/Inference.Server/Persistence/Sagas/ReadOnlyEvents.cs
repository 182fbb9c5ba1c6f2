using System.Collections.Concurrent;
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
    private static readonly ConcurrentDictionary<(Type Machine, Type Message), bool> Known = new();

    private static readonly MethodInfo FromMachineMethod =
        typeof(ReadOnlyEvents).GetMethod(nameof(FromMachine), BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>True when the state machine of <typeparamref name="TSaga"/> in <paramref name="services"/> correlates
    /// <typeparamref name="TMessage"/> read-only; false for any other saga or message.</summary>
    public static bool Handles<TSaga, TMessage>(IServiceProvider services)
        where TSaga : class, ISaga
        where TMessage : class
    {
        if (!typeof(SagaStateMachineInstance).IsAssignableFrom(typeof(TSaga)))
            return false;

        var machineType = typeof(SagaStateMachine<>).MakeGenericType(typeof(TSaga));
        if (services.GetService(machineType) is not { } machine)
            return false;

        return Known.GetOrAdd((machine.GetType(), typeof(TMessage)), _ =>
            (bool)FromMachineMethod.MakeGenericMethod(typeof(TSaga), typeof(TMessage)).Invoke(null, [machine])!);
    }

    private static bool FromMachine<TInstance, TMessage>(SagaStateMachine<TInstance> machine)
        where TInstance : class, SagaStateMachineInstance
        where TMessage : class =>
        machine.Correlations.OfType<EventCorrelation<TInstance, TMessage>>().Any(correlation => correlation.Policy.IsReadOnly);
}
