using System.ComponentModel.DataAnnotations;

namespace Inference.Server.Messaging;

/// <summary>Section <c>Messaging</c>: how much work each receive endpoint takes at once.</summary>
public sealed class MessagingOptions
{
    public const string Section = "Messaging";

    /// <summary>
    /// Most messages each endpoint that uses the database handles at once (the saga, quota reservations and results).
    /// Each holds a database connection while it runs, so their sum, with the API's <c>Api:MaxConcurrentRequests</c> and
    /// the background sweepers, must stay under the connection pool's <c>Maximum Pool Size</c>; a process checks this at start.
    /// </summary>
    [Range(1, 1024)]
    public int ConcurrentMessageLimit { get; set; } = 16;
}
