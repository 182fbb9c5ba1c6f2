namespace Inference.Server.Tests.Infrastructure;

/// <summary>
/// A request the bundled model needs a long time for: many inputs near its 256-token limit, about half a million tokens,
/// which is half a minute or more on two cores (about 12k tokens a second). Canceled, it should stop within a second.
/// </summary>
public static class SlowRequest
{
    /// <summary>
    /// The API settings an app that is sent this request needs: it carries more inputs, and a larger body, than a client
    /// may send by default (128 inputs, 1 MiB). The saga's own ceiling (2048 inputs) still holds.
    /// </summary>
    public static IReadOnlyDictionary<string, string?> Limits { get; } = new Dictionary<string, string?>
    {
        ["Api:MaxInputsPerRequest"] = "2048",
        ["Api:MaxRequestBodyBytes"] = "8388608",
    };

    public const int Inputs = 2048;

    /// <summary>Tokens in each input: 200 words and the two special tokens.</summary>
    public const int TokensPerInput = 202;

    public static string[] Body() =>
        [.. Enumerable.Range(0, Inputs).Select(i => string.Join(' ', Enumerable.Repeat($"word{i % 7}", 1)) + " " + string.Join(' ', Enumerable.Repeat("hello", 199)))];
}
