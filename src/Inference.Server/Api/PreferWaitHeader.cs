using System.Globalization;

namespace Inference.Server.Api;

/// <summary>
/// The <c>wait</c> preference of the <c>Prefer</c> request header (RFC 7240): <c>Prefer: wait=N</c> asks the server to
/// answer with the final result if it has one within <c>N</c> seconds. Plain <c>wait</c> means <see cref="MaxSeconds"/>.
/// </summary>
/// <remarks>
/// As RFC 7240 asks of a server, a preference it does not honour is ignored, never refused: other preferences, a
/// malformed value and a value outside 1..<see cref="MaxSeconds"/> leave the request answered as without the header.
/// Only the first <c>wait</c> counts (RFC 7240 section 2); its parameters (after <c>;</c>) are ignored.
/// </remarks>
public static class PreferWaitHeader
{
    public const string Name = "Prefer";

    /// <summary>The response header that says which preference was honoured.</summary>
    public const string AppliedName = "Preference-Applied";

    public const int MaxSeconds = 60;

    /// <summary>The seconds the request's <c>Prefer</c> header asks to wait, or null when it asks for no wait this server honours.</summary>
    public static int? Read(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Headers.TryGetValue(Name, out var values) ? Parse(values) : null;
    }

    /// <summary>The seconds of the first <c>wait</c> preference among <paramref name="headers"/>, or null.</summary>
    public static int? Parse(IEnumerable<string?> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        foreach (var header in headers)
        {
            foreach (var preference in (header ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var nameAndValue = preference.Split(';', 2)[0];
                var equals = nameAndValue.IndexOf('=', StringComparison.Ordinal);
                var name = (equals < 0 ? nameAndValue : nameAndValue[..equals]).Trim();
                if (!name.Equals("wait", StringComparison.OrdinalIgnoreCase))
                    continue;
                if (equals < 0)
                    return MaxSeconds;

                // The first wait decides, valid or not: a malformed one is ignored, not replaced by a later one.
                var value = nameAndValue[(equals + 1)..].Trim();
                if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
                    value = value[1..^1];
                return value.Length is > 0 and <= 2
                    && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
                    && seconds is >= 1 and <= MaxSeconds ? seconds : null;
            }
        }

        return null;
    }

    /// <summary>The <see cref="AppliedName"/> value for a wait of <paramref name="seconds"/>.</summary>
    public static string Applied(int seconds) => string.Create(CultureInfo.InvariantCulture, $"wait={seconds}");
}
