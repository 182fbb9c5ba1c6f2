using System.Globalization;

namespace Inference.LoadTest;

internal sealed record LoadOptions(
    Uri Url,
    string Key,
    int Requests,
    int Concurrency,
    int Inputs,
    int Words,
    double BadInputs,
    double CancelShare,
    double CancelAfterShare,
    string? ReportPath,
    TimeSpan FollowTimeout,
    TimeSpan FinalTimeout,
    TimeSpan RetryPatience,
    TimeSpan RequestTimeout)
{
    public const string Usage = """
        usage: Inference.LoadTest --key <api key> [--url http://127.0.0.1:5080] [--requests 200] [--concurrency 16]
                                  [--inputs 1] [--words 12] [--bad-inputs 0] [--cancel-share 0.2] [--cancel-after-share 0.1]
                                  [--report path.json]
                                  [--follow-timeout 60] [--final-timeout 180] [--retry-patience 180] [--request-timeout 60]
        """;

    public static LoadOptions Parse(string[] args)
    {
        for (var i = 0; i < args.Length; i += 2)
        {
            if (!Known.Contains(args[i]) || i + 1 >= args.Length)
                throw new ArgumentException($"Unknown option or missing value: {args[i]}\n{Usage}");
        }

        string? Value(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        string Required(string name) => Value(name) ?? throw new ArgumentException($"{name} is required.\n{Usage}");
        int Number(string name, int fallback) =>
            Value(name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
        TimeSpan Seconds(string name, int fallback) => TimeSpan.FromSeconds(Number(name, fallback));

        double Share(string name, double fallback)
        {
            var share = Value(name) is { } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;
            return share is < 0 or > 1 ? throw new ArgumentException($"{name} is a share of the requests, from 0 to 1.") : share;
        }

        var badInputs = Share("--bad-inputs", 0);
        var cancelShare = Share("--cancel-share", 0.2);
        var cancelAfterShare = Share("--cancel-after-share", 0.1);
        if (cancelShare + cancelAfterShare > 1)
            throw new ArgumentException("--cancel-share and --cancel-after-share together are at most 1.");

        return new(new Uri(Value("--url") ?? "http://127.0.0.1:5080"), Required("--key"), Number("--requests", 200),
            Number("--concurrency", 16), Number("--inputs", 1), Number("--words", 12), badInputs, cancelShare, cancelAfterShare, Value("--report"),
            Seconds("--follow-timeout", 60), Seconds("--final-timeout", 180), Seconds("--retry-patience", 180),
            Seconds("--request-timeout", 60));
    }

    private static readonly HashSet<string> Known =
    [
        "--url", "--key", "--requests", "--concurrency", "--inputs", "--words", "--bad-inputs", "--cancel-share",
        "--cancel-after-share", "--report",
        "--follow-timeout", "--final-timeout", "--retry-patience", "--request-timeout",
    ];
}
