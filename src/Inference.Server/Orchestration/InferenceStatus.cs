namespace Inference.Server.Orchestration;

/// <summary>The saga's state names and the <c>status</c> values the API shows for them.</summary>
public static class InferenceStatus
{
    /// <summary>The state a request starts in, named as the machine names it.</summary>
    public const string Submitted = nameof(InferenceStateMachine.Submitted);

    /// <summary>The state of a request whose tokens are reserved, named as the machine names it.</summary>
    public const string QuotaReserved = nameof(InferenceStateMachine.QuotaReserved);

    private static readonly Dictionary<string, string> ApiNames = new(StringComparer.Ordinal)
    {
        ["Submitted"] = "submitted",
        ["QuotaReserved"] = "quota_reserved",
        ["Inferring"] = "inferring",
        ["Completed"] = "completed",
        ["Failed"] = "failed",
        ["Canceled"] = "canceled",
    };

    private static readonly HashSet<string> FinalStates = new(StringComparer.Ordinal) { "Completed", "Failed", "Canceled" };

    /// <summary>The states a request passes through before a final one, for queries that look for unfinished requests.</summary>
    public static IReadOnlyList<string> UnfinishedStates { get; } = [.. ApiNames.Keys.Where(state => !FinalStates.Contains(state))];

    /// <summary>True for the six states of the design; false for the machine's own Initial and Final.</summary>
    public static bool IsKnownState(string state) => ApiNames.ContainsKey(state);

    public static bool IsFinal(string state) => FinalStates.Contains(state);

    /// <summary>The API's lower-snake-case name for a saga state.</summary>
    public static string ToApi(string state) =>
        ApiNames.TryGetValue(state, out var name) ? name : throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown state.");

    /// <summary>The saga state for an API status, or null when the status is not one of ours.</summary>
    public static string? FromApi(string status) =>
        ApiNames.FirstOrDefault(pair => pair.Value == status).Key;
}
