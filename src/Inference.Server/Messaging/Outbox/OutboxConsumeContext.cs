using MassTransit;
using MassTransit.Context;
using MassTransit.Initializers;

namespace Inference.Server.Messaging.Outbox;

/// <summary>
/// A consume context whose sends, publishes and replies are captured into an <see cref="OutboxBuffer"/> instead of
/// leaving. Everything built on it (the saga's consume context, the state machine's behavior context) inherits its
/// receive context, and with it the capturing endpoint providers; this is how MassTransit's own outboxes hook in.
/// </summary>
internal sealed class OutboxConsumeContext<TMessage> : ConsumeContextProxy<TMessage>
    where TMessage : class
{
    public OutboxConsumeContext(ConsumeContext<TMessage> context, OutboxBuffer buffer)
        : base(context)
    {
        var receiveContext = new OutboxReceiveContext(context.ReceiveContext, buffer);
        ReceiveContext = receiveContext;
        PublishEndpointProvider = receiveContext.PublishEndpointProvider;
    }
}

internal sealed class OutboxReceiveContext(ReceiveContext context, OutboxBuffer buffer) : ReceiveContextProxy(context)
{
    public override ISendEndpointProvider SendEndpointProvider { get; } = new OutboxSendEndpointProvider(context.SendEndpointProvider, buffer);

    public override IPublishEndpointProvider PublishEndpointProvider { get; } =
        new OutboxPublishEndpointProvider(context.PublishEndpointProvider, buffer);
}

internal sealed class OutboxSendEndpointProvider(ISendEndpointProvider provider, OutboxBuffer buffer) : ISendEndpointProvider
{
    public ConnectHandle ConnectSendObserver(ISendObserver observer) => provider.ConnectSendObserver(observer);

    public Task<ISendEndpoint> GetSendEndpoint(Uri address) => Task.FromResult<ISendEndpoint>(new OutboxSendEndpoint(buffer, address));
}

internal sealed class OutboxPublishEndpointProvider(IPublishEndpointProvider provider, OutboxBuffer buffer) : IPublishEndpointProvider
{
    public ConnectHandle ConnectPublishObserver(IPublishObserver observer) => provider.ConnectPublishObserver(observer);

    public Task<ISendEndpoint> GetPublishSendEndpoint<T>()
        where T : class => Task.FromResult<ISendEndpoint>(new OutboxSendEndpoint(buffer, destination: null));
}

/// <summary>Captures what is sent to one destination, or published when <paramref name="destination"/> is null.</summary>
internal sealed class OutboxSendEndpoint(OutboxBuffer buffer, Uri? destination) : ISendEndpoint
{
    public ConnectHandle ConnectSendObserver(ISendObserver observer) => new NoObservers();

    public Task Send<T>(T message, CancellationToken cancellationToken = default)
        where T : class => buffer.Capture(message, Pipe.Empty<SendContext<T>>(), destination, cancellationToken);

    public Task Send<T>(T message, IPipe<SendContext<T>> pipe, CancellationToken cancellationToken = default)
        where T : class => buffer.Capture(message, pipe, destination, cancellationToken);

    public Task Send<T>(T message, IPipe<SendContext> pipe, CancellationToken cancellationToken = default)
        where T : class => buffer.Capture<T>(message, pipe, destination, cancellationToken);

    public Task Send(object message, CancellationToken cancellationToken = default) =>
        SendEndpointConverterCache.Send(this, message, message.GetType(), cancellationToken);

    public Task Send(object message, Type messageType, CancellationToken cancellationToken = default) =>
        SendEndpointConverterCache.Send(this, message, messageType, cancellationToken);

    public Task Send(object message, IPipe<SendContext> pipe, CancellationToken cancellationToken = default) =>
        SendEndpointConverterCache.Send(this, message, message.GetType(), pipe, cancellationToken);

    public Task Send(object message, Type messageType, IPipe<SendContext> pipe, CancellationToken cancellationToken = default) =>
        SendEndpointConverterCache.Send(this, message, messageType, pipe, cancellationToken);

    public Task Send<T>(object values, CancellationToken cancellationToken = default)
        where T : class => Send(values, Pipe.Empty<SendContext<T>>(), cancellationToken);

    public async Task Send<T>(object values, IPipe<SendContext<T>> pipe, CancellationToken cancellationToken = default)
        where T : class
    {
        var (message, initialized) = await MessageInitializerCache<T>.InitializeMessage(values, pipe, cancellationToken).ConfigureAwait(false);
        await buffer.Capture(message, initialized, destination, cancellationToken).ConfigureAwait(false);
    }

    public Task Send<T>(object values, IPipe<SendContext> pipe, CancellationToken cancellationToken = default)
        where T : class => Send<T>(values, (IPipe<SendContext<T>>)pipe, cancellationToken);

    /// <summary>Nothing is sent here, so there is nothing to observe; observers see the dispatcher's real sends.</summary>
    private sealed class NoObservers : ConnectHandle
    {
        public void Disconnect()
        {
        }

        public void Dispose()
        {
        }
    }
}
