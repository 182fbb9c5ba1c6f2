using Inference.Contracts;

namespace Inference.Orchestration;

/// <summary>The saga's state names, as the machine names them, and the statuses the API and the contracts show.</summary>
public static class InferenceStates
{
    public const string Submitted = nameof(InferenceStateMachine.Submitted);
    public const string QuotaReserved = nameof(InferenceStateMachine.QuotaReserved);
    public const string Inferring = nameof(InferenceStateMachine.Inferring);
    public const string Completed = nameof(InferenceStateMachine.Completed);
    public const string Failed = nameof(InferenceStateMachine.Failed);
    public const string Canceled = nameof(InferenceStateMachine.Canceled);

    private static readonly Dictionary<string, string> ApiNames = new(StringComparer.Ordinal)
    {
        [Submitted] = InferenceStatusNames.Submitted,
        [QuotaReserved] = InferenceStatusNames.QuotaReserved,
        [Inferring] = InferenceStatusNames.Inferring,
        [Completed] = InferenceStatusNames.Completed,
        [Failed] = InferenceStatusNames.Failed,
        [Canceled] = InferenceStatusNames.Canceled,
    };

    /// <summary>The states in which a request has ended.</summary>
    public static IReadOnlyList<string> FinalStates { get; } = [Completed, Failed, Canceled];

    /// <summary>The states a request passes through before a final one, for queries that look for unfinished requests.</summary>
    public static IReadOnlyList<string> UnfinishedStates { get; } = [Submitted, QuotaReserved, Inferring];

    /// <summary>True for the six states of the design; false for the machine's own Initial and Final.</summary>
    public static bool IsKnownState(string state) => ApiNames.ContainsKey(state);

    public static bool IsFinal(string state) => state is Completed or Failed or Canceled;

    /// <summary>The API's lower-snake-case name for a saga state.</summary>
    public static string ToApi(string state) =>
        ApiNames.TryGetValue(state, out var name) ? name : throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown state.");

    /// <summary>The saga state for an API status, or null when the status is not one of ours.</summary>
    public static string? FromApi(string status) =>
        ApiNames.FirstOrDefault(pair => pair.Value == status).Key;
}
