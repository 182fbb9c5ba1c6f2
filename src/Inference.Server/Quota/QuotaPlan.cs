namespace Inference.Server.Quota;

/// <summary>
/// What a tenant may use: each limit is optional, and an absent one (<see langword="null"/>) is no limit. Token windows
/// are UTC calendar windows (the minute, the day, the month); <see cref="MaxConcurrent"/> counts the tenant's admitted
/// requests that have not ended.
/// </summary>
/// <remarks>
/// A present limit is at least 1: a tenant who may not spend anything is disabled, not given a zero limit, because
/// guessing whether 0 meant "nothing" or "unlimited" would be worse than refusing it; the admin API refuses it.
/// </remarks>
public sealed record QuotaPlan
{
    /// <summary>No limit on anything.</summary>
    public static QuotaPlan Unlimited { get; } = new();

    /// <summary>Admitted requests per UTC calendar minute.</summary>
    public long? RequestsPerMinute { get; init; }

    /// <summary>Tokens per UTC calendar minute (prompt plus the most a request may generate, settled to what it used).</summary>
    public long? TokensPerMinute { get; init; }

    /// <summary>Tokens per UTC calendar day.</summary>
    public long? TokensPerDay { get; init; }

    /// <summary>Tokens per UTC calendar month.</summary>
    public long? TokensPerMonth { get; init; }

    /// <summary>Requests admitted and not yet final (completed, failed or canceled) at one time.</summary>
    public long? MaxConcurrent { get; init; }

    /// <summary>Inputs in one request.</summary>
    public long? MaxInputsPerRequest { get; init; }

    /// <summary>The names of the limits that are present but below 1, in the API's snake_case; empty when the plan is valid.</summary>
    public IEnumerable<string> InvalidLimits()
    {
        if (RequestsPerMinute < 1) yield return "requests_per_minute";
        if (TokensPerMinute < 1) yield return "tokens_per_minute";
        if (TokensPerDay < 1) yield return "tokens_per_day";
        if (TokensPerMonth < 1) yield return "tokens_per_month";
        if (MaxConcurrent < 1) yield return "max_concurrent";
        if (MaxInputsPerRequest < 1) yield return "max_inputs_per_request";
    }
}
