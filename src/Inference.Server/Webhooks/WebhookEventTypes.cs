namespace Inference.Server.Webhooks;

/// <summary>The events a webhook receives, and the filter names (<c>webhook_events_filter</c>) that select them.</summary>
public static class WebhookEventTypes
{
    public const string Started = "inference.started";
    public const string Completed = "inference.completed";
    public const string Failed = "inference.failed";
    public const string Canceled = "inference.canceled";

    /// <summary>Filter: the request started running on a worker (it entered <c>inferring</c>).</summary>
    public const string StartedFilter = "started";

    /// <summary>Filter: the request ended, whichever way: completed, failed or canceled.</summary>
    public const string CompletedFilter = "completed";

    public static IReadOnlyList<string> Filters { get; } = [StartedFilter, CompletedFilter];

    /// <summary>The filter when the submitter gives none.</summary>
    public const string DefaultFilter = CompletedFilter;

    /// <summary>The stored form of a filter: its distinct names in a fixed order, comma-separated.</summary>
    public static string Normalize(IEnumerable<string> filter)
    {
        var names = filter.ToHashSet(StringComparer.Ordinal);
        return string.Join(',', Filters.Where(names.Contains));
    }

    public static bool Includes(string? stored, string filter) =>
        stored is not null && stored.Split(',').Contains(filter, StringComparer.Ordinal);
}
