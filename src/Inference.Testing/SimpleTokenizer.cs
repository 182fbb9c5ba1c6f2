using System.Globalization;

namespace Inference.Testing;

/// <summary>
/// How the harness counts tokens, in place of a model's tokenizer: a rule simple enough to count by hand. Each run of
/// letters or digits is one token, and so is every other visible character (punctuation, symbols); white space,
/// control and format characters (such as a zero-width space) count nothing. Text with any token gets two more, like
/// the <c>[CLS]</c> and <c>[SEP]</c> of the platform's BERT tokenizer; text with none counts 0 and is refused as
/// empty.
/// </summary>
/// <example><c>"Hello, world!"</c> is <c>Hello</c> <c>,</c> <c>world</c> <c>!</c> plus two: 6 tokens.</example>
public static class SimpleTokenizer
{
    /// <summary>The tokens of one input, by the rule above.</summary>
    public static int Count(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var tokens = 0;
        var inWord = false;
        foreach (var character in input)
        {
            var isWord = char.IsLetterOrDigit(character) || char.GetUnicodeCategory(character) == UnicodeCategory.NonSpacingMark;
            if (isWord)
            {
                if (!inWord)
                    tokens++;
            }
            else if (!char.IsWhiteSpace(character) && !char.IsControl(character) && !char.IsSurrogate(character)
                && char.GetUnicodeCategory(character) != UnicodeCategory.Format)
            {
                tokens++;
            }

            inWord = isWord;
        }

        return tokens == 0 ? 0 : tokens + 2;
    }

    /// <summary>The tokens of all <paramref name="inputs"/> together: what a request is charged for.</summary>
    public static int Count(IEnumerable<string> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return inputs.Sum(Count);
    }
}
