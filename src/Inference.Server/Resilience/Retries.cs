using MassTransit;

namespace Inference.Server.Resilience;

/// <summary>
/// The retry policy of every endpoint that uses the database or Redis: outages are waited out for minutes, everything
/// else is retried a few times quickly and then faults. A PostgreSQL restart, a failover or a Redis restart then loses
/// and fails nothing; a bug still reaches the error queue in seconds.
/// </summary>
public static class Retries
{
    /// <summary>
    /// Waits in milliseconds between attempts during an outage: about 8 minutes in all, growing so that a long outage
    /// costs few attempts. The settlement queue's patience, which first showed that giving up after seconds loses work.
    /// </summary>
    public static readonly int[] ThroughOutages =
        [50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000];

    /// <summary>
    /// Retries failures that <see cref="TransientFailures"/> calls outages for <see cref="ThroughOutages"/>, and any
    /// other failure at <paramref name="quickIntervals"/>; <paramref name="configure"/> adds exceptions of the endpoint's
    /// own (for example one never worth a retry).
    /// </summary>
    public static void UseRetriesThroughOutages(this IReceiveEndpointConfigurator endpoint, int[] quickIntervals,
        Action<IRetryConfigurator>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);

        // Outer: outages. Each of its attempts runs the inner policy again, which lets outages straight through.
        endpoint.UseMessageRetry(retry =>
        {
            retry.Handle<Exception>(TransientFailures.Is);
            retry.Intervals(ThroughOutages);
        });
        endpoint.UseMessageRetry(retry =>
        {
            configure?.Invoke(retry);
            retry.Ignore<Exception>(TransientFailures.Is);
            retry.Intervals(quickIntervals);
        });
    }
}
