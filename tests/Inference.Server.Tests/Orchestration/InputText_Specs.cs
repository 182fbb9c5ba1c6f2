using System.Globalization;
using System.Text.RegularExpressions;
using Inference.Orchestration;

namespace Inference.Server.Tests.Orchestration;

public sealed class When_text_is_checked_against_the_input_rule
{
    [Theory]
    [InlineData("")]
    [InlineData("A man is playing a guitar.")]
    [InlineData("tab\there, lines\r\nand\nmore")]
    [InlineData("smile \ud83d\ude00 and \U0001F3B8")] // pairs, written as two escapes and as one code point
    [InlineData("caf\u00e9, \u00a0no-break space, \u200bzero width, \u00adsoft hyphen, \ufeff")]
    [InlineData("\uffff and \ufffe")] // noncharacters are Unicode text all the same
    public void Should_accept_text_that_every_store_can_hold(string text)
    {
        Assert.Null(InputText.FindViolation(text));
    }

    [Fact]
    public void Should_refuse_every_control_character_but_tab_line_feed_and_carriage_return()
    {
        var refused = new List<char>();
        for (var code = 0; code <= char.MaxValue; code++)
        {
            var character = (char)code;
            if (!char.IsSurrogate(character) && InputText.FindViolation($"ab{character}c") is { } violation)
            {
                Assert.Equal((InputText.InvalidCharacter, 2), (violation.Code, violation.Index));
                refused.Add(character);
            }
        }

        // Exactly Unicode's category Cc (C0, DEL, C1) less the three characters of ordinary text layout.
        var expected = Enumerable.Range(0, 0x20).Concat(Enumerable.Range(0x7F, 0x21)).Select(c => (char)c)
            .Where(c => c is not ('\t' or '\n' or '\r'));
        Assert.Equal(expected, refused);
        Assert.All(refused, c => Assert.Equal(UnicodeCategory.Control, char.GetUnicodeCategory(c)));
    }

    // Attribute arguments are stored as UTF-8, which has no unpaired surrogates: the text is written escaped.
    [Theory]
    [InlineData(@"a\ud800", 1, "U+D800")] // a high surrogate at the end
    [InlineData(@"\ud800b", 0, "U+D800")] // a high surrogate followed by no low one
    [InlineData(@"ab\udfff", 2, "U+DFFF")] // a low surrogate with no high one
    [InlineData(@"\ude00\ud83d", 0, "U+DE00")] // a pair the wrong way round
    [InlineData(@"\ud83d\ude00\ud83d", 2, "U+D83D")] // a pair, then half of one
    public void Should_refuse_an_unpaired_surrogate_and_say_which_and_where(string escaped, int index, string codePoint)
    {
        var violation = InputText.FindViolation(Regex.Unescape(escaped));

        Assert.NotNull(violation);
        Assert.Equal((InputText.InvalidUnicode, index), (violation.Code, violation.Index));
        Assert.Contains(codePoint, violation.Message, StringComparison.Ordinal);
        Assert.Contains($"index {index}", violation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_name_the_control_character_as_a_code_point_and_its_index_after_the_subject()
    {
        var violation = InputText.FindViolation("hello\u0000world", "Input 3");

        Assert.NotNull(violation);
        Assert.Equal((InputText.InvalidCharacter, 5), (violation.Code, violation.Index));
        Assert.StartsWith("Input 3 holds the control character U+0000 at index 5;", violation.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_report_the_first_of_several_violations()
    {
        var violation = InputText.FindViolation(new string('a', 1000) + "\udc00\u0000");

        Assert.Equal((InputText.InvalidUnicode, 1000), (violation?.Code, violation?.Index));
    }
}

public sealed class When_text_is_made_printable
{
    // Attribute arguments are stored as UTF-8, which has no unpaired surrogates: the text is written escaped.
    [Theory]
    [InlineData("gpt-2", "gpt-2")]
    [InlineData(@"gpt\u0000\ud800\t2\u0085", @"gpt\u0000\uD800\u00092\u0085")]
    [InlineData(@"\ud83d\ude00", "\ud83d\ude00")]
    public void Should_write_control_characters_and_unpaired_surrogates_as_escapes(string escaped, string printable)
    {
        Assert.Equal(printable, InputText.Printable(Regex.Unescape(escaped)));
    }

    [Fact]
    public void Should_make_nothing_of_null()
    {
        Assert.Equal(string.Empty, InputText.Printable(null));
    }

    [Fact]
    public void Should_cut_long_text_and_end_it_with_an_ellipsis()
    {
        Assert.Equal(new string('a', 100) + "…", InputText.Printable(new string('a', 101)));
        Assert.Equal(new string('a', 100), InputText.Printable(new string('a', 100)));
    }

    [Fact]
    public void Should_not_cut_a_surrogate_pair_in_half()
    {
        // The cut falls between the halves of the emoji; the printable text keeps both or neither.
        var printable = InputText.Printable("ab\ud83d\ude00cd", maxLength: 3);

        Assert.Equal("ab\ud83d\ude00…", printable);
        Assert.Null(InputText.FindViolation(printable));
    }
}
