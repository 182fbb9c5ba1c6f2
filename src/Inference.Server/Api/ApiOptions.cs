using System.ComponentModel.DataAnnotations;
using Inference.Orchestration;

namespace Inference.Server.Api;

/// <summary>Section <c>Api</c>.</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>
    /// How long <c>POST /v1/inferences</c> waits for the quota decision, after the request is stored, before answering
    /// 202 anyway; zero answers at once. Within the wait a refusal is answered 429 on the same call.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan QuotaDecisionTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Most <c>/v1</c> requests served at once; each may hold a database connection. More wait in a queue of
    /// <see cref="MaxQueuedRequests"/>, and beyond that are answered <c>503 unavailable</c> with <c>Retry-After</c>.
    /// Counted in the process's connection budget (see <c>Messaging:ConcurrentMessageLimit</c>).
    /// </summary>
    [Range(1, 4096)]
    public int MaxConcurrentRequests { get; set; } = 32;

    /// <summary>Requests that wait for one of the <see cref="MaxConcurrentRequests"/> slots before new ones are refused.</summary>
    [Range(0, 100_000)]
    public int MaxQueuedRequests { get; set; } = 512;

    /// <summary>
    /// Most submissions this process holds open at once for <c>Prefer: wait</c> (each costs a little memory, no thread and
    /// no database connection); beyond it a submission is answered as without the preference. Zero honours no wait.
    /// </summary>
    [Range(0, 1_000_000)]
    public int MaxWaiters { get; set; } = 10_000;

    /// <summary>
    /// Longest a <c>POST /v1/embeddings</c> request may run (capped by <c>Orchestration:RequestDeadline</c>): it is submitted
    /// with this as its <c>Cancel-After</c>, so that one that cannot end in time is canceled and not charged, and the call
    /// answers <c>503</c> with the request's code then.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan EmbeddingsTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Longest a <c>POST /v1/completions</c> request may run (capped by <c>Orchestration:RequestDeadline</c>), streamed or
    /// not: it is submitted with this as its <c>Cancel-After</c>, so that a generation that cannot end in time is canceled
    /// and not charged.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan CompletionsTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Most event streams (<c>GET /v1/inferences/{id}/events</c>) this process holds open at once (each costs a little
    /// memory, no thread, no database connection and no slot of <see cref="MaxConcurrentRequests"/>); beyond it a stream
    /// is refused with <c>503 unavailable</c>. Zero serves none.
    /// </summary>
    [Range(0, 1_000_000)]
    public int MaxEventStreams { get; set; } = 10_000;

    /// <summary>How often an event stream with nothing to say sends a comment line, so that proxies keep it open.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan EventHeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How often, while this process holds event streams, one query reads the states of all their requests, for the
    /// changes no event announces (quota reserved, inferring). The final states come at once, from the outcome events.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan EventPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Most characters (UTF-16 code units) one input may hold; longer ones are refused with <c>input_too_long</c>.
    /// </summary>
    /// <remarks>
    /// The token limit alone does not bound an input: a word of over 100 characters is one <c>[UNK]</c> token however long
    /// it is. The default is far above what a 256-token input can hold in real text.
    /// </remarks>
    [Range(1, int.MaxValue)]
    public int MaxInputCharacters { get; set; } = SubmissionRules.MaxInputCharacters;

    /// <summary>
    /// Most inputs one <c>POST /v1/inferences</c> may carry; more are refused with <c>too_many_inputs</c>, and the client
    /// splits the job. Kept small so that one request stays a small unit of work to queue, reserve and cancel.
    /// </summary>
    /// <remarks>At most <see cref="SubmissionRules.MaxInputs"/>, the ceiling the saga holds every submission to.</remarks>
    [Range(1, SubmissionRules.MaxInputs)]
    public int MaxInputsPerRequest { get; set; } = 128;

    /// <summary>
    /// Most bytes the body of <c>POST /v1/inferences</c> may have; a larger one is refused with <c>413
    /// payload_too_large</c> before more than this is read, so this bounds the memory one request can take.
    /// </summary>
    /// <remarks>The body is held whole while it is parsed, so the ceiling is 1 GiB.</remarks>
    [Range(1024, 1 << 30)]
    public int MaxRequestBodyBytes { get; set; } = 1024 * 1024;
}
