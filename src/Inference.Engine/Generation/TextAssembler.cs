using System.Text;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Generation;

/// <summary>
/// Turns one sequence's generated token ids into text as they come, and hands out each piece once it is final.
/// </summary>
/// <remarks>
/// Tokens are decoded incrementally over a short window (Hugging Face text-generation-inference's scheme): the text of
/// the window with the new token minus the text of the window without it. The window slides once a piece is emitted,
/// so each step decodes a few tokens, not the whole completion. A byte-level BPE (GPT-2) can split one character over
/// several tokens; while the window's text ends with U+FFFD the character is incomplete and nothing is emitted.
/// Text that could still be the start of a stop string is held back too; when a stop string appears, the text ends
/// just before it.
/// </remarks>
internal sealed class TextAssembler(Tokenizer tokenizer, IReadOnlyList<string> stops, Action<string>? onText)
{
    private const char Replacement = '\uFFFD';

    private readonly List<int> _ids = [];
    private readonly StringBuilder _text = new();
    private readonly int _longestStop = stops.Count == 0 ? 0 : stops.Max(s => s.Length);
    private int _prefixOffset;
    private int _readOffset;
    private string _pending = string.Empty;

    /// <summary>Whether a stop string ended the text.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The final text so far: everything emitted.</summary>
    public string Text => _text.ToString();

    /// <summary>Adds a generated token (not the end-of-sequence one); true when the text now ends at a stop string.</summary>
    public bool Add(int tokenId)
    {
        _ids.Add(tokenId);
        var before = Decode(_prefixOffset, _readOffset);
        var after = Decode(_prefixOffset, _ids.Count);
        if (after.Length <= before.Length || after[^1] == Replacement)
        {
            return false;
        }

        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        return Append(after[before.Length..]);
    }

    /// <summary>The sequence ended without a stop string: whatever is held back is final now.</summary>
    public void Finish()
    {
        if (Stopped)
        {
            return;
        }

        var before = Decode(_prefixOffset, _readOffset);
        var after = Decode(_prefixOffset, _ids.Count);
        if (after.Length > before.Length && Append(after[before.Length..]))
        {
            return;
        }

        Emit(_pending);
        _pending = string.Empty;
    }

    private bool Append(string piece)
    {
        _pending += piece;
        var stopAt = -1;
        foreach (var stop in stops)
        {
            var index = _pending.IndexOf(stop, StringComparison.Ordinal);
            if (index >= 0 && (stopAt < 0 || index < stopAt))
            {
                stopAt = index;
            }
        }

        if (stopAt >= 0)
        {
            Emit(_pending[..stopAt]);
            _pending = string.Empty;
            Stopped = true;
            return true;
        }

        var held = HeldBack();
        Emit(_pending[..^held]);
        _pending = _pending[^held..];
        return false;
    }

    /// <summary>The length of the longest end of the pending text that a stop string starts with.</summary>
    private int HeldBack()
    {
        for (var length = Math.Min(_pending.Length, _longestStop - 1); length > 0; length--)
        {
            var end = _pending.AsSpan(_pending.Length - length);
            foreach (var stop in stops)
            {
                if (stop.AsSpan().StartsWith(end, StringComparison.Ordinal))
                {
                    return length;
                }
            }
        }

        return 0;
    }

    private void Emit(string piece)
    {
        if (piece.Length == 0)
        {
            return;
        }

        _text.Append(piece);
        onText?.Invoke(piece);
    }

    private string Decode(int start, int end) =>
        end <= start ? string.Empty : tokenizer.Decode(_ids.GetRange(start, end - start)) ?? string.Empty;
}
