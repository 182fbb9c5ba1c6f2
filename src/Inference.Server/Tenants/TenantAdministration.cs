using System.Globalization;
using System.Text.RegularExpressions;
using Inference.Orchestration;
using Inference.Server.Api;
using Inference.Server.Persistence;
using Inference.Server.Quota;
using Microsoft.EntityFrameworkCore;

namespace Inference.Server.Tenants;

/// <summary>
/// The operators' work on tenants and their keys, in one place for both ways in: the admin API (<c>/admin/v1</c>) and
/// the admin command line (<c>admin ...</c>). Every check is made here, so the two cannot drift apart; each operation
/// answers its body or an <see cref="AdminError"/> with a stable code.
/// </summary>
public sealed partial class TenantAdministration(InferenceDbContext db, TimeProvider clock)
{
    /// <summary>Most tenants one list returns.</summary>
    public const int MaxListLimit = 200;

    /// <summary>Tenants a list returns when not told.</summary>
    public const int DefaultListLimit = 50;

    /// <summary>Most characters in a tenant's name (its column's length).</summary>
    public const int MaxTenantNameLength = 256;

    public async Task<AdminResult<TenantResponse>> CreateTenantAsync(string? id, string? name, QuotaPlan plan,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (TenantIdError(id) is { } idError)
            return idError;
        if (NameError(name, MaxTenantNameLength) is { } nameError)
            return nameError;
        if (PlanError(plan, "plan.") is { } planError)
            return planError;

        if (await db.Tenants.AsNoTracking().AnyAsync(x => x.Id == id, cancellationToken).ConfigureAwait(false))
            return TenantExists(id!);

        // Without a name, the id names the tenant: the column holds text for every tenant.
        var tenant = new Tenant { Id = id!, Name = name ?? id!, CreatedAt = clock.GetUtcNow(), Plan = plan };
        db.Tenants.Add(tenant);
        try
        {
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            // Another operator created it between the check and the insert; anything else fails the same check again.
            db.ChangeTracker.Clear();
            if (await db.Tenants.AsNoTracking().AnyAsync(x => x.Id == id, cancellationToken).ConfigureAwait(false))
                return TenantExists(id!);
            throw;
        }

        return TenantResponse.From(tenant);
    }

    /// <summary>Tenants in order of their ids, <paramref name="limit"/> at a time after <paramref name="after"/>.</summary>
    public async Task<AdminResult<TenantListResponse>> ListTenantsAsync(int? limit, string? after, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxListLimit)
        {
            var detail = string.Create(CultureInfo.InvariantCulture, $"'limit' must be a whole number from 1 to {MaxListLimit}.");
            return AdminError.Validation(ErrorCodes.LimitInvalid, detail, [new FieldError("limit", ErrorCodes.LimitInvalid, detail)]);
        }

        var take = limit ?? DefaultListLimit;
        var query = db.Tenants.AsNoTracking();
        if (!string.IsNullOrEmpty(after))
            query = query.Where(x => string.Compare(x.Id, after) > 0);
        var page = await query.OrderBy(x => x.Id).Take(take + 1).ToListAsync(cancellationToken).ConfigureAwait(false);
        var hasMore = page.Count > take;
        var data = page.Take(take).Select(TenantResponse.From).ToList();
        return new TenantListResponse(data, hasMore, hasMore ? data[^1].Id : null);
    }

    public async Task<AdminResult<TenantResponse>> GetTenantAsync(string id, CancellationToken cancellationToken)
    {
        var tenant = await db.Tenants.AsNoTracking().SingleOrDefaultAsync(x => x.Id == id, cancellationToken).ConfigureAwait(false);
        return tenant is null ? TenantNotFound(id) : TenantResponse.From(tenant);
    }

    /// <summary>Replaces the tenant's whole plan: a limit left out is no limit. It applies within
    /// <see cref="TenantPlans.CacheFor"/>.</summary>
    public async Task<AdminResult<TenantResponse>> SetPlanAsync(string id, QuotaPlan plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (PlanError(plan, string.Empty) is { } planError)
            return planError;

        var tenant = await db.Tenants.SingleOrDefaultAsync(x => x.Id == id, cancellationToken).ConfigureAwait(false);
        if (tenant is null)
            return TenantNotFound(id);
        tenant.Plan = plan;
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        return TenantResponse.From(tenant);
    }

    /// <summary>
    /// Disables or enables a tenant; doing it twice changes nothing (a disabled tenant keeps the time it was first
    /// disabled). A disabled tenant's keys are refused (<c>403 tenant_disabled</c>) within the key cache's duration, and
    /// its submissions over the bus are refused too.
    /// </summary>
    public async Task<AdminResult<TenantResponse>> SetDisabledAsync(string id, bool disabled, CancellationToken cancellationToken)
    {
        var tenant = await db.Tenants.SingleOrDefaultAsync(x => x.Id == id, cancellationToken).ConfigureAwait(false);
        if (tenant is null)
            return TenantNotFound(id);
        if (disabled && tenant.DisabledAt is null)
            tenant.DisabledAt = clock.GetUtcNow();
        else if (!disabled)
            tenant.DisabledAt = null;
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        return TenantResponse.From(tenant);
    }

    /// <summary>Issues a new key; the answer is the only place the key itself ever appears.</summary>
    public async Task<AdminResult<CreatedKeyResponse>> CreateKeyAsync(string tenantId, string? name, DateTimeOffset? expiresAt,
        CancellationToken cancellationToken)
    {
        if (NameError(name, ApiKey.MaxNameLength) is { } nameError)
            return nameError;
        var now = clock.GetUtcNow();
        if (expiresAt <= now)
            return ExpiresAtInvalid("'expires_at' must be in the future.");
        if (!await db.Tenants.AsNoTracking().AnyAsync(x => x.Id == tenantId, cancellationToken).ConfigureAwait(false))
            return TenantNotFound(tenantId);

        var key = ApiKeyHash.NewKey();
        var apiKey = new ApiKey
        {
            Id = Guid.NewGuid(),
            TenantId = tenantId,
            KeyHash = ApiKeyHash.Of(key),
            KeyPrefix = key[..ApiKey.PrefixLength],
            Name = name,
            CreatedAt = now,
            ExpiresAt = expiresAt,
        };
        db.ApiKeys.Add(apiKey);
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        return new CreatedKeyResponse(apiKey.Id, key, apiKey.Name, apiKey.CreatedAt, apiKey.ExpiresAt);
    }

    /// <summary>The tenant's keys, revoked and expired ones included, oldest first; never a key itself.</summary>
    public async Task<AdminResult<KeyListResponse>> ListKeysAsync(string tenantId, CancellationToken cancellationToken)
    {
        if (!await db.Tenants.AsNoTracking().AnyAsync(x => x.Id == tenantId, cancellationToken).ConfigureAwait(false))
            return TenantNotFound(tenantId);
        var keys = await db.ApiKeys.AsNoTracking().Where(x => x.TenantId == tenantId).ToListAsync(cancellationToken).ConfigureAwait(false);
        return new KeyListResponse([.. keys.OrderBy(x => x.CreatedAt).ThenBy(x => x.Id).Select(KeyResponse.From)]);
    }

    /// <summary>Revokes a key; it stops working within the key cache's duration. Revoking it again changes nothing.</summary>
    public async Task<AdminResult<KeyResponse>> RevokeKeyAsync(string tenantId, string keyId, CancellationToken cancellationToken)
    {
        if (!await db.Tenants.AsNoTracking().AnyAsync(x => x.Id == tenantId, cancellationToken).ConfigureAwait(false))
            return TenantNotFound(tenantId);
        var key = Guid.TryParse(keyId, out var id)
            ? await db.ApiKeys.SingleOrDefaultAsync(x => x.Id == id && x.TenantId == tenantId, cancellationToken).ConfigureAwait(false)
            : null;
        if (key is null)
            return AdminError.NotFound("key_not_found", "No such key",
                $"Tenant '{InputText.Printable(tenantId)}' has no key '{InputText.Printable(keyId)}'.");
        if (key.RevokedAt is null)
        {
            key.RevokedAt = clock.GetUtcNow();
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }

        return KeyResponse.From(key);
    }

    /// <summary>Reads an <c>expires_at</c> given as text: an ISO 8601 time with an offset (or <c>Z</c>).</summary>
    public static bool TryParseExpiresAt(string text, out DateTimeOffset expiresAt) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out expiresAt);

    public static AdminError ExpiresAtInvalid(string detail) =>
        AdminError.Validation("expires_at_invalid", detail, [new FieldError("expires_at", "expires_at_invalid", detail)]);

    /// <summary>Ids are what appears in URLs, logs and keys of other stores: short, lower case, and safe everywhere.</summary>
    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex TenantIdPattern();

    private static AdminError? TenantIdError(string? id)
    {
        if (id is not null && TenantIdPattern().IsMatch(id))
            return null;
        const string detail = "'id' must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.";
        return AdminError.Validation("tenant_id_invalid", detail, [new FieldError("id", "tenant_id_invalid", detail)]);
    }

    private static AdminError? NameError(string? name, int maxLength)
    {
        if (name is null)
            return null;
        if (name.Length == 0 || name.Length > maxLength)
        {
            var detail = string.Create(CultureInfo.InvariantCulture, $"'name' must be 1 to {maxLength} characters.");
            return AdminError.Validation("name_invalid", detail, [new FieldError("name", "name_invalid", detail)]);
        }

        if (InputText.FindViolation(name, "'name'") is { } violation)
        {
            var code = violation.Code == InputText.InvalidUnicode ? "name_invalid_unicode" : "name_invalid_character";
            return AdminError.Validation(code, violation.Message, [new FieldError("name", code, violation.Message)]);
        }

        return null;
    }

    private static AdminError? PlanError(QuotaPlan plan, string fieldPrefix)
    {
        var invalid = plan.InvalidLimits().ToList();
        if (invalid.Count == 0)
            return null;
        return PlanInvalid([.. invalid.Select(name => new FieldError(fieldPrefix + name, PlanInvalidCode,
            $"'{name}' must be a whole number of at least 1, or absent for no limit."))]);
    }

    public const string PlanInvalidCode = "plan_invalid";

    public static AdminError PlanInvalid(IReadOnlyList<FieldError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        return AdminError.Validation(PlanInvalidCode,
            "Every limit of a plan is a whole number of at least 1, or absent (or null) for no limit: " +
            string.Join(", ", errors.Select(e => e.Field)) + ".", errors);
    }

    private static AdminError TenantNotFound(string id) =>
        AdminError.NotFound(ErrorCodes.TenantNotFound, "No such tenant", $"There is no tenant '{InputText.Printable(id)}'.");

    private static AdminError TenantExists(string id) =>
        new(StatusCodes.Status409Conflict, "tenant_exists", "The tenant exists", $"There is already a tenant '{id}'.", null);
}

/// <summary>Why an admin operation was refused: an HTTP status, a stable code, and for a <c>400</c> the fields at fault.</summary>
public sealed record AdminError(int Status, string Code, string Title, string Detail, IReadOnlyList<FieldError>? Errors)
{
    public static AdminError Validation(string code, string detail, IReadOnlyList<FieldError> errors) =>
        new(StatusCodes.Status400BadRequest, code, "The request is not valid", detail, errors);

    public static AdminError NotFound(string code, string title, string detail) =>
        new(StatusCodes.Status404NotFound, code, title, detail, null);
}

/// <summary>An admin operation's body, or why there is none.</summary>
public readonly record struct AdminResult<T>(T? Value, AdminError? Error)
    where T : class
{
    public static implicit operator AdminResult<T>(T value) => new(value, null);

    public static implicit operator AdminResult<T>(AdminError error) => new(null, error);
}

/// <summary>A tenant as operators see it.</summary>
public sealed record TenantResponse(string Id, string Name, PlanBody Plan, bool Disabled, DateTimeOffset? DisabledAt, DateTimeOffset CreatedAt)
{
    public static TenantResponse From(Tenant tenant)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        return new(tenant.Id, tenant.Name, PlanBody.From(tenant.Plan), tenant.DisabledAt is not null, tenant.DisabledAt, tenant.CreatedAt);
    }
}

/// <summary>A plan in the API's words: every limit, null when there is none.</summary>
public sealed record PlanBody(
    long? RequestsPerMinute,
    long? TokensPerMinute,
    long? TokensPerDay,
    long? TokensPerMonth,
    long? MaxConcurrent,
    long? MaxInputsPerRequest)
{
    public static PlanBody From(QuotaPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return new(plan.RequestsPerMinute, plan.TokensPerMinute, plan.TokensPerDay, plan.TokensPerMonth, plan.MaxConcurrent,
            plan.MaxInputsPerRequest);
    }
}

/// <summary>A page of tenants; pass <see cref="NextAfter"/> as <c>after</c> for the next.</summary>
public sealed record TenantListResponse(IReadOnlyList<TenantResponse> Data, bool HasMore, string? NextAfter);

/// <summary>A new key: <see cref="Key"/> is shown here and never again.</summary>
public sealed record CreatedKeyResponse(Guid KeyId, string Key, string? Name, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt);

/// <summary>A key as a list shows it: its first characters, never the key.</summary>
public sealed record KeyResponse(Guid KeyId, string? Name, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt,
    string? Prefix)
{
    public static KeyResponse From(ApiKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new(key.Id, key.Name, key.CreatedAt, key.ExpiresAt, key.RevokedAt, key.KeyPrefix);
    }
}

public sealed record KeyListResponse(IReadOnlyList<KeyResponse> Data);
