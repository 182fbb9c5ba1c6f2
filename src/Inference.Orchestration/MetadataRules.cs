using System.Globalization;

namespace Inference.Orchestration;

/// <summary>
/// What a request's <c>metadata</c> may hold: the submitter's own labels (a customer, a job, a trace id), stored with the
/// request and shown with it, never read by the platform. Bounded so that it stays a label, not a payload: at most
/// <see cref="MaxKeys"/> keys of at most <see cref="MaxKeyLength"/> characters, string values of at most
/// <see cref="MaxValueLength"/>, every key and value under the same text rule as the inputs (<see cref="InputText"/>).
/// </summary>
public static class MetadataRules
{
    public const int MaxKeys = 16;

    /// <summary>The longest key, in UTF-16 code units as every other limit.</summary>
    public const int MaxKeyLength = 64;

    /// <summary>The longest value, in UTF-16 code units.</summary>
    public const int MaxValueLength = 512;

    /// <summary>Every rule <paramref name="entries"/> break, in order, each naming its field; empty when none.</summary>
    /// <param name="entries">The keys and values as sent, repeated keys included, so that a repeat is refused rather than
    /// one of its values silently kept.</param>
    public static IReadOnlyList<MetadataViolation> Check(IReadOnlyList<KeyValuePair<string, string>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);

        // Alone: past the count, the keys are not looked at, so that a huge object is answered with one error.
        if (TooManyKeys(entries.Count) is { } tooMany)
            return [tooMany];

        var violations = new List<MetadataViolation>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in entries)
        {
            var field = $"metadata.{InputText.Printable(key, MaxKeyLength)}";
            var name = $"Metadata key '{InputText.Printable(key, 20)}'";
            if (KeyViolation(key, name, seen) is { } keyViolation)
                violations.Add(keyViolation with { Field = field });
            else if (ValueViolation(value, $"The value of {name}") is { } valueViolation)
                violations.Add(valueViolation with { Field = field });
        }

        return violations;
    }

    /// <summary>Whether <paramref name="count"/> keys are more than the rule allows; checked before anything else.</summary>
    public static MetadataViolation? TooManyKeys(int count) =>
        count > MaxKeys
            ? new("metadata", ErrorCodes.MetadataTooManyKeys,
                string.Create(CultureInfo.InvariantCulture, $"'metadata' has {count} keys; at most {MaxKeys} are accepted."))
            : null;

    private static MetadataViolation? KeyViolation(string key, string name, HashSet<string> seen)
    {
        if (key.Length == 0)
            return new("", ErrorCodes.MetadataInvalid, "A metadata key must not be empty.");
        if (Text(key, name) is { } text)
            return text;
        if (key.Length > MaxKeyLength)
        {
            return new("", ErrorCodes.MetadataKeyTooLong,
                string.Create(CultureInfo.InvariantCulture, $"{name} has {key.Length} characters; at most {MaxKeyLength} are accepted."));
        }

        return seen.Add(key) ? null : new("", ErrorCodes.MetadataInvalid, $"{name} is given more than once.");
    }

    private static MetadataViolation? ValueViolation(string value, string name)
    {
        if (Text(value, name) is { } text)
            return text;
        return value.Length > MaxValueLength
            ? new("", ErrorCodes.MetadataValueTooLong,
                string.Create(CultureInfo.InvariantCulture, $"{name} has {value.Length} characters; at most {MaxValueLength} are accepted."))
            : null;
    }

    private static MetadataViolation? Text(string text, string name) =>
        InputText.FindViolation(text, name) is { } violation
            ? new("", violation.Code == InputText.InvalidUnicode ? ErrorCodes.MetadataInvalidUnicode : ErrorCodes.MetadataInvalidCharacter,
                violation.Message)
            : null;
}

/// <summary>One rule the metadata breaks: the field (<c>metadata</c> or <c>metadata.key</c>), a stable code, a sentence.</summary>
public sealed record MetadataViolation(string Field, string Code, string Message);
