using System.Globalization;
using System.Text.RegularExpressions;
using Inference.Orchestration;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Inference.Server.Api;

/// <summary>
/// The <c>Cancel-After</c> request header: the client's own deadline, shorter than the server's. <c>30s</c>, <c>5m</c>,
/// <c>1h30m</c> (hours, minutes and seconds, each at most once and in that order) or plain seconds (<c>90</c>).
/// </summary>
public static partial class CancelAfterHeader
{
    public const string Name = "Cancel-After";

    /// <summary>The header's duration, null when it is absent, or a problem when it is malformed or out of bounds.</summary>
    public static (TimeSpan? Value, ProblemHttpResult? Problem) Read(HttpRequest request, TimeSpan maxDeadline)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.Headers.TryGetValue(Name, out var values))
            return (null, null);

        if (values.Count != 1 || Parse(values[0]) is not { } value)
        {
            return (null, Problems.Validation(ErrorCodes.CancelAfterInvalid,
                $"'{Name}' must be one duration such as 30s, 5m, 1h30m or a number of seconds.", []));
        }

        return SubmissionRules.CheckCancelAfter(value, maxDeadline, $"'{Name}'") is { } refusal
            ? (null, Problems.Validation(refusal.Code, refusal.Message, []))
            : (value, null);
    }

    /// <summary>The duration <paramref name="text"/> names, or null when it names none.</summary>
    public static TimeSpan? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return null;

        var match = Duration().Match(text.Trim());
        if (!match.Success || match.Length == 0)
            return null;

        // Bounded before it is multiplied: a number of 18 digits is far beyond any deadline and must not overflow.
        long Part(int group) => match.Groups[group].Success && long.TryParse(match.Groups[group].ValueSpan, NumberStyles.None,
            CultureInfo.InvariantCulture, out var n) ? Math.Min(n, 100_000_000) : 0;

        var seconds = match.Groups[4].Success ? Part(4) : (Part(1) * 3600) + (Part(2) * 60) + Part(3);
        return TimeSpan.FromSeconds(seconds);
    }

    // ASCII digits only: \d would also match other scripts' digits, which the number parser then does not read.
    [GeneratedRegex(@"^(?:(?:([0-9]{1,18})h)?(?:([0-9]{1,18})m)?(?:([0-9]{1,18})s)?|([0-9]{1,18}))$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex Duration();
}
