namespace Inference.Engine;

/// <summary>How a model's tokenizer sees a request, for validation and quota, without running the model.</summary>
/// <param name="PerInput">The number of tokens fed to the model for each input, special tokens included, padding excluded.</param>
/// <param name="Total">
/// The sum of <paramref name="PerInput"/>: the request's prompt tokens, as charged and as reported in its usage.
/// </param>
/// <param name="TooLong">Indices of inputs longer than the model's <see cref="ModelDescriptor.MaxInputTokens"/>.</param>
/// <param name="Empty">
/// Indices of inputs that hold no token besides the special ones: empty, whitespace, or only characters the tokenizer
/// drops. The model would still embed them; whether that is an error is the caller's decision.
/// </param>
public sealed record TokenCount(IReadOnlyList<int> PerInput, int Total, IReadOnlyList<int> TooLong, IReadOnlyList<int> Empty)
{
    /// <summary>
    /// Counts <paramref name="inputs"/> with <paramref name="count"/> (a model's tokenizer, special tokens included): an
    /// input is too long above <paramref name="maxInputTokens"/>, and empty at <paramref name="specialTokens"/> or fewer.
    /// </summary>
    internal static TokenCount Of(IReadOnlyList<string> inputs, Func<string, int> count, int maxInputTokens, int specialTokens)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var perInput = new int[inputs.Count];
        var tooLong = new List<int>();
        var empty = new List<int>();
        var total = 0;
        for (var i = 0; i < inputs.Count; i++)
        {
            var tokens = count(inputs[i]);
            perInput[i] = tokens;
            total += tokens;
            if (tokens > maxInputTokens)
            {
                tooLong.Add(i);
            }
            else if (tokens <= specialTokens)
            {
                empty.Add(i);
            }
        }

        return new TokenCount(perInput, total, tooLong, empty);
    }
}
