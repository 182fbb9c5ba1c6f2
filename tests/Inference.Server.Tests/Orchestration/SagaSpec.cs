using MassTransit;

namespace Inference.Server.Tests.Orchestration;

/// <summary>A state-machine spec: a fresh <see cref="SagaHarness"/> for every test.</summary>
public abstract class SagaSpec(TimeSpan? inactivity = null) : IAsyncLifetime
{
    protected SagaHarness Saga { get; } = new(inactivity);

    public Task InitializeAsync() => Saga.InitializeAsync();

    public Task DisposeAsync() => Saga.DisposeAsync();

    /// <summary>The queue a message was sent to, without transport options such as <c>?bind=true</c>.</summary>
    protected static string QueueOf(SendContext context) => context.DestinationAddress!.AbsolutePath.Trim('/');

    protected static string QueueOf<T>(MassTransit.Testing.ISentMessage<T> sent)
        where T : class => QueueOf(sent.Context);
}
