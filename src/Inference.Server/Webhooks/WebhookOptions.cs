using System.ComponentModel.DataAnnotations;

namespace Inference.Server.Webhooks;

/// <summary>Section <c>Webhooks</c>: where webhooks may go and how their deliveries are sent and retried.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>
    /// Lets webhooks go to loopback, private, link-local and other internal addresses (see
    /// <see cref="WebhookAddressGuard"/>). Off by default: a webhook is a request this server makes on a tenant's behalf,
    /// and must not reach what only the server can reach. For development and tests.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>The Standard Webhooks schedule: attempts immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h.</summary>
    public static IReadOnlyList<TimeSpan> StandardSchedule { get; } =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
        TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    /// <summary>
    /// The waits between a delivery's attempts: after the first attempt fails the next is due after the first wait, and
    /// so on; when the list is used up the delivery has failed. Unset: <see cref="StandardSchedule"/>. (Null rather than
    /// the standard list, because configuration binding appends to an array it finds filled.)
    /// </summary>
    public TimeSpan[]? RetrySchedule { get; set; }

    /// <summary>The schedule in force.</summary>
    public IReadOnlyList<TimeSpan> Schedule => RetrySchedule is { Length: > 0 } configured ? configured : StandardSchedule;

    /// <summary>How long one attempt may take, connection and response headers included, before it counts as failed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Most attempts in flight at once in one dispatcher.</summary>
    [Range(1, 10_000)]
    public int MaxConcurrentDeliveries { get; set; } = 64;

    /// <summary>Most attempts in flight at once to one destination (host and port), so that a slow receiver holds at most
    /// this many of <see cref="MaxConcurrentDeliveries"/>.</summary>
    [Range(1, 1_000)]
    public int MaxConcurrentPerDestination { get; set; } = 8;

    /// <summary>How often the dispatcher looks for due deliveries when it has nothing in hand.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How long a dispatcher holds the deliveries it took. A dispatcher that dies holding some leaves them to another
    /// after this; it must be well over <see cref="Timeout"/>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The longest <c>Retry-After</c> a receiver may ask for; a longer one waits this long.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "2.00:00:00")]
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromHours(24);
}
