using System.Globalization;
using System.Text;

namespace Inference.LoadTest;

/// <summary>What one submission carries: ordinary sentences, or one hostile input the API must refuse.</summary>
internal enum InputKind
{
    Normal,

    /// <summary>A NUL character, sent as the JSON escape <c>\u0000</c>.</summary>
    Nul,

    /// <summary>A C0 control character other than tab and line breaks, sent as a JSON escape.</summary>
    ControlCharacter,

    /// <summary>A high surrogate with no low one after it, sent as the JSON escape <c>\ud800</c>.</summary>
    LoneSurrogate,

    /// <summary>Bytes that are not UTF-8 inside a JSON string.</summary>
    InvalidUtf8,
}

/// <summary>
/// One POST body, built as bytes so that hostile inputs reach the server exactly as written; with a <c>Cancel-After</c>
/// header to send (<see cref="CancelAfter"/>), or a cancel to send that long after the <c>202</c> (<see cref="CancelDelay"/>).
/// </summary>
internal sealed record Submission(int Index, InputKind Kind, int Inputs, byte[] Body)
{
    /// <summary>The <c>Cancel-After</c> header's value (<c>2s</c> or <c>2</c>, 1 to 3 seconds); null: none.</summary>
    public string? CancelAfter { get; init; }

    /// <summary>How long after its <c>202</c> the client cancels the request; null: it does not.</summary>
    public TimeSpan? CancelDelay { get; init; }

    /// <summary>The longest <see cref="CancelDelay"/>: about as long as a request takes to complete under the drill's load,
    /// so that some cancels arrive before the end and some after.</summary>
    public static readonly TimeSpan LongestCancelDelay = TimeSpan.FromMilliseconds(2500);

    private static readonly InputKind[] Hostile = [InputKind.Nul, InputKind.ControlCharacter, InputKind.LoneSurrogate, InputKind.InvalidUtf8];

    // Tab, line feed and carriage return are ordinary text; these are not.
    private static readonly string[] ControlEscapes = [@"\u0001", @"\u0007", @"\u001b", @"\u001f"];

    /// <summary>The 400 code the API must answer a hostile input with; null for an ordinary one.</summary>
    public string? ExpectedCode => Kind switch
    {
        InputKind.Nul or InputKind.ControlCharacter => "input_invalid_character",
        InputKind.LoneSurrogate => "input_invalid_unicode",
        InputKind.InvalidUtf8 => "invalid_utf8",
        _ => null,
    };

    public string KindName => Kind switch
    {
        InputKind.Nul => "nul",
        InputKind.ControlCharacter => "control_character",
        InputKind.LoneSurrogate => "lone_surrogate",
        InputKind.InvalidUtf8 => "invalid_utf8",
        _ => "normal",
    };

    /// <summary>
    /// Submission <paramref name="index"/> of a run. The hostile ones are spread evenly, so that any stretch of the run
    /// (an outage, say) holds its share of them, and take the four kinds in turn.
    /// </summary>
    public static Submission Create(int index, LoadOptions options)
    {
        var sentence = string.Join(' ', Enumerable.Range(0, options.Words).Select(i => $"word{i % 7}"));
        var inputs = Enumerable.Range(0, options.Inputs)
            .Select(i => Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{sentence} {i}"))).ToList();

        var hostileBefore = (int)Math.Floor(index * options.BadInputs);
        var kind = (int)Math.Floor((index + 1) * options.BadInputs) > hostileBefore ? Hostile[hostileBefore % Hostile.Length] : InputKind.Normal;
        byte[] hostile = kind switch
        {
            InputKind.Nul => Encoding.ASCII.GetBytes(@" \u0000 "),
            InputKind.ControlCharacter => Encoding.ASCII.GetBytes($" {ControlEscapes[hostileBefore / Hostile.Length % ControlEscapes.Length]} "),
            InputKind.LoneSurrogate => Encoding.ASCII.GetBytes(@" \ud800 "),
            InputKind.InvalidUtf8 => [(byte)' ', 0xFF, 0xFE, (byte)' '],
            _ => [],
        };
        if (hostile.Length > 0)
            inputs[0] = [.. inputs[0][..(inputs[0].Length / 2)], .. hostile, .. inputs[0][(inputs[0].Length / 2)..]];

        var body = new List<byte>(Encoding.ASCII.GetBytes("""{"model":"all-minilm-l6-v2","input":["""));
        for (var i = 0; i < inputs.Count; i++)
        {
            if (i > 0)
                body.Add((byte)',');
            body.Add((byte)'"');
            body.AddRange(inputs[i]);
            body.Add((byte)'"');
        }

        body.AddRange("]}"u8.ToArray());

        // Cancels and Cancel-After go to ordinary requests only (a hostile one is refused before it exists), drawn at
        // random: a share of them canceled after a random delay, another share sent with a short Cancel-After.
        string? cancelAfter = null;
        TimeSpan? cancelDelay = null;
        if (kind == InputKind.Normal)
        {
            var draw = Random.Shared.NextDouble();
            if (draw < options.CancelShare)
                cancelDelay = TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * LongestCancelDelay.TotalMilliseconds);
            else if (draw < options.CancelShare + options.CancelAfterShare)
                cancelAfter = Random.Shared.Next(1, 4).ToString(CultureInfo.InvariantCulture) + (Random.Shared.Next(2) == 0 ? "s" : "");
        }

        return new Submission(index, kind, options.Inputs, [.. body]) { CancelAfter = cancelAfter, CancelDelay = cancelDelay };
    }
}
