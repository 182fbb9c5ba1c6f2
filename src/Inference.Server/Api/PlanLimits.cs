using System.Globalization;
using Inference.Server.Quota;

namespace Inference.Server.Api;

/// <summary>
/// Refuses at the door what no window of the tenant's plan could ever admit, so that a client learns at once (<c>400
/// request_exceeds_plan</c>, nothing stored or reserved) instead of retrying a <c>429</c> that can never pass.
/// </summary>
public static class PlanLimits
{
    /// <summary>The plan limit the request exceeds (its name, value and what the request asks), or null when it could fit.</summary>
    public static (string Name, long Limit, long Requested)? Exceeded(QuotaPlan plan, int inputs, long tokens)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.MaxInputsPerRequest is { } maxInputs && inputs > maxInputs)
            return ("max_inputs_per_request", maxInputs, inputs);

        // The smallest window decides; named as the plan names it.
        (string Name, long? Limit)[] windows =
            [("tokens_per_minute", plan.TokensPerMinute), ("tokens_per_day", plan.TokensPerDay), ("tokens_per_month", plan.TokensPerMonth)];
        foreach (var (name, limit) in windows.Where(x => x.Limit is not null).OrderBy(x => x.Limit))
            return tokens > limit ? (name, limit!.Value, tokens) : null;
        return null;
    }

    /// <summary><see cref="Exceeded"/> for the tenant's plan (cached: <see cref="Tenants.TenantPlans"/>).</summary>
    public static async Task<(string Name, long Limit, long Requested)?> ExceededAsync(HttpContext http, string tenantId, int inputs,
        long tokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        var plans = http.RequestServices.GetRequiredService<Tenants.TenantPlans>();
        return await plans.FindAsync(tenantId, cancellationToken).ConfigureAwait(false) is { } plan ? Exceeded(plan, inputs, tokens) : null;
    }

    /// <summary>The problem for <see cref="Exceeded"/>'s answer.</summary>
    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Problem((string Name, long Limit, long Requested) exceeded)
    {
        var (name, limit, requested) = exceeded;
        var what = name == "max_inputs_per_request" ? "inputs" : "tokens";
        return Problems.RequestExceedsPlan(
            string.Create(CultureInfo.InvariantCulture,
                $"The request has {requested} {what}; the plan's {name} is {limit}, so it can never be admitted. Send a smaller request."),
            name, limit, requested);
    }
}
