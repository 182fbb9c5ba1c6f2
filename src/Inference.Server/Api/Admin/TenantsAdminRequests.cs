using System.Text.Json;
using System.Text.Json.Serialization;
using Inference.Server.Quota;
using Inference.Server.Tenants;

namespace Inference.Server.Api.Admin;

/// <summary>The body of <c>POST /admin/v1/tenants</c>. A field this API does not know is refused, not ignored: a
/// misspelt limit would otherwise silently be no limit.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateTenantRequest
{
    // Read whole even with an unpaired surrogate, so that the answer names the field instead of the JSON.
    [JsonConverter(typeof(FaithfulJsonString.Converter))]
    public string? Id { get; init; }

    [JsonConverter(typeof(FaithfulJsonString.Converter))]
    public string? Name { get; init; }

    public PlanRequest? Plan { get; init; }
}

/// <summary>A plan as sent: each limit kept raw, so that one that is not a whole number is named in <c>plan_invalid</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record PlanRequest
{
    public JsonElement? RequestsPerMinute { get; init; }

    public JsonElement? TokensPerMinute { get; init; }

    public JsonElement? TokensPerDay { get; init; }

    public JsonElement? TokensPerMonth { get; init; }

    public JsonElement? MaxConcurrent { get; init; }

    public JsonElement? MaxInputsPerRequest { get; init; }

    /// <summary>The plan, or the fields that are not whole numbers of at least 1 (named with <paramref name="fieldPrefix"/>).</summary>
    public (QuotaPlan? Plan, IReadOnlyList<FieldError> Errors) Read(string fieldPrefix)
    {
        var errors = new List<FieldError>();
        long? Limit(JsonElement? value, string name)
        {
            if (value is null or { ValueKind: JsonValueKind.Null })
                return null;
            if (value.Value.ValueKind == JsonValueKind.Number && value.Value.TryGetInt64(out var limit) && limit >= 1)
                return limit;
            errors.Add(new FieldError(fieldPrefix + name, TenantAdministration.PlanInvalidCode,
                $"'{name}' must be a whole number of at least 1, or absent (or null) for no limit."));
            return null;
        }

        var plan = new QuotaPlan
        {
            RequestsPerMinute = Limit(RequestsPerMinute, "requests_per_minute"),
            TokensPerMinute = Limit(TokensPerMinute, "tokens_per_minute"),
            TokensPerDay = Limit(TokensPerDay, "tokens_per_day"),
            TokensPerMonth = Limit(TokensPerMonth, "tokens_per_month"),
            MaxConcurrent = Limit(MaxConcurrent, "max_concurrent"),
            MaxInputsPerRequest = Limit(MaxInputsPerRequest, "max_inputs_per_request"),
        };
        return errors.Count == 0 ? (plan, errors) : (null, errors);
    }
}

/// <summary>The body of <c>POST /admin/v1/tenants/{id}/keys</c>; it may be empty.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CreateKeyRequest
{
    [JsonConverter(typeof(FaithfulJsonString.Converter))]
    public string? Name { get; init; }

    /// <summary>Kept raw, so that a malformed time is <c>expires_at_invalid</c> like one in the past.</summary>
    public JsonElement? ExpiresAt { get; init; }
}
