using System.Collections.Concurrent;
using MassTransit;

namespace Inference.Server.Tests.Persistence;

/// <summary>Counts the retries of a saga endpoint's retry filter, and why each attempt failed.</summary>
public sealed class RetryLog : IRetryObserver
{
    private readonly ConcurrentQueue<Exception> _failures = new();

    /// <summary>Attempts that failed and were tried again.</summary>
    public int Retries => _failures.Count;

    public IReadOnlyCollection<Exception> Failures => [.. _failures];

    public Task PostCreate<T>(RetryPolicyContext<T> context)
        where T : class, PipeContext => Task.CompletedTask;

    public Task PostFault<T>(RetryContext<T> context)
        where T : class, PipeContext
    {
        _failures.Enqueue(context.Exception);
        return Task.CompletedTask;
    }

    public Task PreRetry<T>(RetryContext<T> context)
        where T : class, PipeContext => Task.CompletedTask;

    public Task RetryFault<T>(RetryContext<T> context)
        where T : class, PipeContext => Task.CompletedTask;

    public Task RetryComplete<T>(RetryContext<T> context)
        where T : class, PipeContext => Task.CompletedTask;
}

/// <summary>
/// What the bus did with each message: consumed (after the saga's transaction committed and the outbox was delivered),
/// faulted (after the retries ran out), and everything that left through the bus: published (faults included) or sent.
/// </summary>
public sealed class MessageLog : IConsumeObserver, IPublishObserver, ISendObserver
{
    private readonly ConcurrentQueue<object> _consumed = new();
    private readonly ConcurrentQueue<(object Message, Exception Exception)> _faulted = new();
    private readonly ConcurrentQueue<object> _published = new();
    private readonly ConcurrentQueue<object> _sent = new();
    private readonly Lock _finishing = new();
    private readonly Dictionary<Type, int> _finished = [];
    private readonly List<(Type Type, int Count, TaskCompletionSource Done)> _waiting = [];

    public IEnumerable<T> Consumed<T>() => _consumed.OfType<T>();

    public IEnumerable<T> Faulted<T>() => _faulted.Select(x => x.Message).OfType<T>();

    public IReadOnlyCollection<Exception> Faults => [.. _faulted.Select(x => x.Exception)];

    public IEnumerable<T> Published<T>() => _published.OfType<T>();

    public IEnumerable<T> Sent<T>() => _sent.OfType<T>();

    /// <summary>
    /// Completes once <paramref name="count"/> messages of <typeparamref name="T"/> in all are done with, consumed or
    /// faulted; fails the spec if that takes longer than <paramref name="within"/>.
    /// </summary>
    public async Task Finished<T>(int count, TimeSpan? within = null)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_finishing)
        {
            if (_finished.GetValueOrDefault(typeof(T)) >= count)
                return;
            _waiting.Add((typeof(T), count, done));
        }

        var timeout = within ?? TimeSpan.FromSeconds(30);
        try
        {
            await done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{count} {typeof(T).Name} messages were not done with within {timeout}: " +
                $"{Consumed<T>().Count()} consumed, {Faulted<T>().Count()} faulted.");
        }
    }

    public Task PreConsume<T>(ConsumeContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context)
        where T : class
    {
        _consumed.Enqueue(context.Message);
        Finish(typeof(T));
        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
        where T : class
    {
        _faulted.Enqueue((context.Message, exception));
        Finish(typeof(T));
        return Task.CompletedTask;
    }

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class
    {
        _published.Enqueue(context.Message);
        return Task.CompletedTask;
    }

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    public Task PreSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context)
        where T : class
    {
        _sent.Enqueue(context.Message);
        return Task.CompletedTask;
    }

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    private void Finish(Type type)
    {
        lock (_finishing)
        {
            var finished = _finished[type] = _finished.GetValueOrDefault(type) + 1;
            foreach (var waiter in _waiting.Where(x => x.Type == type && x.Count <= finished).ToList())
            {
                waiter.Done.TrySetResult();
                _waiting.Remove(waiter);
            }
        }
    }
}
