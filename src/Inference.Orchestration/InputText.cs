using System.Buffers;
using System.Globalization;
using System.Text;

namespace Inference.Orchestration;

/// <summary>
/// The one rule for text the platform stores and runs, whichever way it arrives (REST or the bus). Refused are:
/// <list type="bullet">
/// <item>control characters (Unicode category Cc: U+0000 to U+001F, U+007F, U+0080 to U+009F) other than tab, line
/// feed and carriage return: PostgreSQL's <c>text</c> and <c>jsonb</c> cannot hold U+0000, and the tokenizer drops
/// every control character without a trace, so the model would not see what the client sent
/// (<see cref="InvalidCharacter"/>);</item>
/// <item>unpaired UTF-16 surrogates, which are not Unicode text: no UTF-8 store can keep them faithfully
/// (<see cref="InvalidUnicode"/>).</item>
/// </list>
/// </summary>
public static class InputText
{
    /// <summary>The code of a refused control character.</summary>
    public const string InvalidCharacter = "input_invalid_character";

    /// <summary>The code of an unpaired surrogate.</summary>
    public const string InvalidUnicode = "input_invalid_unicode";

    private const string Ellipsis = "…";

    // Every refused control character and every surrogate; a surrogate found here is then checked for its pair.
    private static readonly SearchValues<char> Suspects = SearchValues.Create(
        [.. Enumerable.Range(0, 0xE000).Select(c => (char)c).Where(c => IsRefusedControl(c) || char.IsSurrogate(c))]);

    /// <summary>Finds the first character of <paramref name="text"/> that the rule refuses.</summary>
    /// <param name="text">The text to check; a <see cref="string"/> converts implicitly.</param>
    /// <param name="subject">What the text is, as the start of <see cref="InputTextViolation.Message"/>, e.g.
    /// <c>"Input 3"</c>.</param>
    /// <returns><see langword="null"/> when every character may be stored, otherwise the first violation.</returns>
    public static InputTextViolation? FindViolation(ReadOnlySpan<char> text, string subject = "The text")
    {
        var offset = 0;
        while (offset < text.Length)
        {
            var found = text[offset..].IndexOfAny(Suspects);
            if (found < 0)
                return null;

            var index = offset + found;
            var character = text[index];
            if (char.IsHighSurrogate(character) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
            {
                offset = index + 2;
                continue;
            }

            return char.IsSurrogate(character)
                ? new InputTextViolation(InvalidUnicode, index,
                    $"{subject} holds an unpaired surrogate ({CodePoint(character)}) at index {index}; a surrogate is " +
                    "Unicode only as half of a high-low pair.")
                : new InputTextViolation(InvalidCharacter, index,
                    $"{subject} holds the control character {CodePoint(character)} at index {index}; of the control " +
                    "characters only tab, line feed and carriage return are accepted.");
        }

        return null;
    }

    /// <summary>
    /// <paramref name="text"/> made safe to echo in a message that is stored or written as JSON: every control character
    /// and every unpaired surrogate is written as <c>\uXXXX</c>, and text past <paramref name="maxLength"/> characters is
    /// cut and ends in an ellipsis.
    /// </summary>
    public static string Printable(string? text, int maxLength = 100)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        if (string.IsNullOrEmpty(text))
            return string.Empty;

        var printable = new StringBuilder(Math.Min(text.Length, maxLength) + Ellipsis.Length);
        var index = 0;
        for (; index < text.Length && index < maxLength; index++)
        {
            var character = text[index];
            if (char.IsHighSurrogate(character) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
            {
                // A pair is kept whole, even when that goes one past the length, so that the cut leaves no half.
                printable.Append(character).Append(text[++index]);
            }
            else if (char.IsControl(character) || char.IsSurrogate(character))
            {
                printable.Append(CultureInfo.InvariantCulture, $"\\u{(int)character:X4}");
            }
            else
            {
                printable.Append(character);
            }
        }

        if (index < text.Length)
            printable.Append(Ellipsis);
        return printable.ToString();
    }

    private static bool IsRefusedControl(char character) => char.IsControl(character) && character is not ('\t' or '\n' or '\r');

    private static string CodePoint(char character) => string.Create(CultureInfo.InvariantCulture, $"U+{(int)character:X4}");
}

/// <summary>A character that <see cref="InputText"/> refuses.</summary>
/// <param name="Code"><see cref="InputText.InvalidCharacter"/> or <see cref="InputText.InvalidUnicode"/>.</param>
/// <param name="Index">Where the character is: its index in UTF-16 code units, counting from 0.</param>
/// <param name="Message">A sentence for the client naming the character as <c>U+XXXX</c> and its index.</param>
public sealed record InputTextViolation(string Code, int Index, string Message);
