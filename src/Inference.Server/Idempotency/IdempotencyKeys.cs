using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Inference.Server.Persistence;

namespace Inference.Server.Idempotency;

/// <summary>
/// The <c>Idempotency-Key</c> request header of <c>POST /v1/inferences</c> and the keys stored for it. A key names one
/// request of its tenant for <see cref="Window"/>; its value is checked here, and what it was used for is remembered as a
/// fingerprint.
/// </summary>
public static class IdempotencyKeys
{
    public const string HeaderName = "Idempotency-Key";

    /// <summary>The response header set when the answer is the one of an earlier submission with the same key.</summary>
    public const string ReplayedHeaderName = "Idempotent-Replayed";

    /// <summary>Longest key, in characters.</summary>
    public const int MaxLength = 255;

    /// <summary>How long a key names its request; after that the key may be used again for a new one.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromHours(24);

    /// <summary>
    /// The key the request carries (null when it carries none), or why it cannot be one. A key is 1 to
    /// <see cref="MaxLength"/> printable ASCII characters; the quotes of a structured-field string
    /// (<c>"..."</c>, as the IETF draft writes it) are not part of it.
    /// </summary>
    public static (string? Key, string? Error) Read(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.Headers.TryGetValue(HeaderName, out var values))
            return (null, null);
        if (values.Count != 1)
            return (null, $"Send one {HeaderName} header, not {values.Count}.");

        var key = values[0] ?? "";
        if (key.Length >= 2 && key[0] == '"' && key[^1] == '"')
            key = key[1..^1];
        if (key.Length is 0 or > MaxLength)
            return (null, $"An {HeaderName} is 1 to {MaxLength} characters long.");
        foreach (var c in key)
        {
            if (c is < ' ' or > '~')
                return (null, $"An {HeaderName} holds printable ASCII characters only.");
        }

        return (key, null);
    }

    /// <summary>
    /// What a submission asks for, as compared between two uses of one key: SHA-256 of <paramref name="parts"/>, each
    /// preceded by its length so that no two different lists give the same bytes.
    /// </summary>
    public static byte[] Fingerprint(params ReadOnlySpan<byte[]> parts)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[4];
        foreach (var part in parts)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, part.Length);
            hash.AppendData(length);
            hash.AppendData(part);
        }

        return hash.GetHashAndReset();
    }

    /// <summary>The tenant's key <paramref name="key"/> if it was stored within <see cref="Window"/> of <paramref name="now"/>.</summary>
    public static Task<IdempotencyKey?> FindAsync(InferenceDbContext db, string tenantId, string key, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var since = now - Window;
        return db.IdempotencyKeys.AsNoTracking()
            .SingleOrDefaultAsync(x => x.TenantId == tenantId && x.Key == key && x.CreatedAt > since, cancellationToken);
    }

    /// <summary>Whether <paramref name="exception"/> is the insert of a key the tenant already has.</summary>
    public static bool IsTaken(DbUpdateException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception.InnerException switch
        {
            PostgresException postgres => postgres.SqlState == PostgresErrorCodes.UniqueViolation && postgres.TableName == "idempotency_keys",
            // SQLITE_CONSTRAINT_PRIMARYKEY or _UNIQUE; SQLite names the table's columns in its message.
            SqliteException sqlite => sqlite.SqliteExtendedErrorCode is 1555 or 2067 && sqlite.Message.Contains("idempotency_keys.", StringComparison.Ordinal),
            _ => false,
        };
    }
}
