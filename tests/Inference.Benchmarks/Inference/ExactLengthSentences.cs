using Inference.Engine;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// Sentences whose token count by the model's own tokenizer, special tokens included, is exactly the one asked for: a
/// figure "at 128 tokens" is then one of inputs that long, with no padding in any batch of them.
/// </summary>
internal static class ExactLengthSentences
{
    // Common English words; each is kept only if the tokenizer makes one token of it, so that a sentence can be grown one
    // token at a time.
    private static readonly string[] Words =
    [
        "the", "river", "bank", "near", "old", "town", "where", "people", "walk", "every", "morning", "before", "work",
        "and", "children", "play", "in", "park", "while", "their", "parents", "talk", "about", "weather", "news", "of",
        "day", "a", "small", "dog", "runs", "after", "ball", "that", "boy", "throws", "across", "green", "field", "under",
        "bright", "blue", "sky", "with", "few", "white", "clouds", "moving", "slowly", "toward", "hills", "beyond", "city",
        "market", "opens", "at", "eight", "sells", "fresh", "bread", "fruit", "fish", "cheese", "to", "anyone", "who",
        "comes", "early", "enough", "find", "good", "place", "stand", "wait", "for", "train", "leaves", "station", "on",
        "time", "most", "days", "but", "not", "when", "snow", "falls", "hard", "roads", "close", "school", "stays", "shut",
        "until", "spring", "returns", "birds", "sing", "trees", "grow", "new", "leaves", "farmers", "plant", "corn", "wheat",
        "long", "rows", "beside", "house", "by", "lake", "water", "is", "cold", "clear", "deep", "enough", "swim", "summer",
    ];

    /// <summary><paramref name="count"/> different sentences of exactly <paramref name="tokens"/> tokens each, the same on
    /// every run (a fixed seed).</summary>
    /// <exception cref="InvalidOperationException">The tokenizer splits none of the words into one token, or too few tokens are asked for.</exception>
    public static IReadOnlyList<string> Build(IInferenceModel model, int tokens, int count)
    {
        var special = model.CountTokens([string.Empty]).PerInput[0];
        var singles = Words.Distinct(StringComparer.Ordinal).Where(w => model.CountTokens([w]).PerInput[0] == special + 1).ToArray();
        if (singles.Length < 10 || tokens < special + 2)
            throw new InvalidOperationException($"Cannot build sentences of {tokens} tokens with {model.Descriptor.Id}'s tokenizer.");

        var random = new Random(tokens);
        var sentences = new List<string>(count);
        var words = new List<string>(tokens);
        while (sentences.Count < count)
        {
            // The words and the closing full stop are one token each: whitespace and punctuation split BERT's words.
            words.Clear();
            for (var i = 0; i < tokens - special - 1; i++)
                words.Add(singles[random.Next(singles.Length)]);
            var sentence = string.Join(' ', words) + ".";
            sentence = char.ToUpperInvariant(sentence[0]) + sentence[1..];
            var actual = model.CountTokens([sentence]).PerInput[0];
            if (actual != tokens)
                throw new InvalidOperationException($"A sentence meant to have {tokens} tokens has {actual}: {sentence}");
            sentences.Add(sentence);
        }

        return sentences;
    }
}
