using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Inference.Server.Api;

/// <summary>
/// The one bound on <c>/v1</c> requests served at once (<see cref="ApiOptions.MaxConcurrentRequests"/>, queue
/// <see cref="ApiOptions.MaxQueuedRequests"/>). The rate limiter's policy takes its slots for most endpoints; a submission
/// takes them itself, so that it can give its slot back while it waits for the request to end (<c>Prefer: wait</c>).
/// </summary>
public sealed class ApiConcurrency : IDisposable
{
    /// <summary>What a request refused for want of a slot is told.</summary>
    public const string RefusedDetail = "The server is at its limit of concurrent requests; nothing was accepted.";

    private readonly ConcurrencyLimiter _limiter;

    public ApiConcurrency(IOptions<ApiOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = options.Value.MaxConcurrentRequests,
            QueueLimit = options.Value.MaxQueuedRequests,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>One slot, waiting in the queue if need be; not acquired when the queue is full.</summary>
    public ValueTask<RateLimitLease> AcquireAsync(CancellationToken cancellationToken) => _limiter.AcquireAsync(1, cancellationToken);

    /// <summary>
    /// The limiter for the rate limiter's partition. The rate limiter disposes a partition's limiter once it has been idle
    /// a while; this view's dispose leaves the shared limiter alone.
    /// </summary>
    internal RateLimiter Partition() => new SharedView(_limiter);

    public void Dispose() => _limiter.Dispose();

    private sealed class SharedView(RateLimiter limiter) : RateLimiter
    {
        public override TimeSpan? IdleDuration => limiter.IdleDuration;

        public override RateLimiterStatistics? GetStatistics() => limiter.GetStatistics();

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => limiter.AttemptAcquire(permitCount);

        protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
            limiter.AcquireAsync(permitCount, cancellationToken);
    }
}
