using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Registry;

/// <summary>
/// Builds the tokenizer a registry entry names. Failures are <see cref="InvalidDataException"/>s whose message names
/// the entry and the key, like the registry's own checks.
/// </summary>
internal static partial class TokenizerFactory
{
    /// <summary>GPT-2's pre-tokenizer: contractions, letters, digits, other symbols, each with its leading space.</summary>
    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Gpt2PreTokenization();

    /// <summary>A WordPiece tokenizer for a BERT-family embedding model, and its vocabulary size.</summary>
    public static (BertTokenizer Tokenizer, int VocabularySize) CreateWordPiece(ModelSpec spec, ILogger logger)
    {
        try
        {
            return spec.Tokenizer switch
            {
                TokenizerKind.Bert => CreateBertFromFile(spec, logger),
                TokenizerKind.TokenizerJson => CreateWordPieceFromJson(spec, logger),
                _ => throw new InvalidDataException($"{spec.Key}: 'tokenizer:kind' must be bert or a WordPiece tokenizer-json for an embedding model"),
            };
        }
        catch (Exception exception) when (exception is JsonException or IOException or ArgumentException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{spec.Key}: 'tokenizer:path' '{spec.TokenizerPath}' is not a usable tokenizer: {exception.Message}", exception);
        }
    }

    /// <summary>Any tokenizer for a text-generation model.</summary>
    public static Tokenizer Create(ModelSpec spec, ILogger logger)
    {
        try
        {
            return spec.Tokenizer switch
            {
                TokenizerKind.Gpt2 => TiktokenTokenizer.CreateForModel("gpt2"),
                TokenizerKind.Bert => CreateBert(File.ReadAllBytes(spec.TokenizerPath!), spec.LowerCase, spec.Id, logger),
                TokenizerKind.TokenizerJson => CreateFromJson(spec, logger),
                _ => throw new InvalidDataException($"{spec.Key}: 'tokenizer' is required"),
            };
        }
        catch (Exception exception) when (exception is JsonException or IOException or ArgumentException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{spec.Key}: 'tokenizer:path' '{spec.TokenizerPath}' is not a usable tokenizer: {exception.Message}", exception);
        }
    }

    /// <summary>
    /// The id of <see cref="ModelSpec.EosToken"/>: a number is the id itself, anything else must be one token of
    /// <paramref name="tokenizer"/>'s, such as <c>&lt;|endoftext|&gt;</c>.
    /// </summary>
    public static int? ResolveEndOfSequence(ModelSpec spec, Tokenizer tokenizer)
    {
        if (spec.EosToken is not { } token)
        {
            return null;
        }

        if (int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return id;
        }

        var ids = tokenizer.EncodeToIds(token);
        return ids.Count == 1
            ? ids[0]
            : throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{spec.Key}: 'eos_token' '{token}' is not one token of the model's tokenizer (it encodes to {ids.Count}); give a special token it knows, or its id"));
    }

    /// <summary>Tokens in a vocabulary file: one per line, the id being the line's number from 0.</summary>
    public static int CountLines(byte[] vocabulary)
    {
        var lines = vocabulary.AsSpan().Count((byte)'\n');
        return vocabulary.Length > 0 && vocabulary[^1] != (byte)'\n' ? lines + 1 : lines;
    }

    private static (BertTokenizer, int) CreateBertFromFile(ModelSpec spec, ILogger logger)
    {
        var vocabulary = File.ReadAllBytes(spec.TokenizerPath!);
        return (CreateBert(vocabulary, spec.LowerCase, spec.Id, logger), CountLines(vocabulary));
    }

    public static BertTokenizer CreateBert(byte[] vocabulary, bool lowerCase, string modelId, ILogger logger)
    {
        // The uncased BERT defaults: lower-case and strip accents. CRLF line endings are handled by the tokenizer's line
        // reader (a test checks that ids match line numbers).
        var options = new BertOptions { LowerCaseBeforeTokenization = lowerCase, RemoveNonSpacingMarks = lowerCase };
        // Stripping accents relies on Unicode decomposition, which invariant globalization mode turns into a no-op:
        // "café" would then become [UNK] instead of "cafe".
        if (lowerCase && "\u00e9".Normalize(NormalizationForm.FormD).Length != 2)
        {
            LogAccentsKept(logger, modelId);
        }

        using var stream = new MemoryStream(vocabulary, writable: false);
        return BertTokenizer.Create(stream, options);
    }

    private static (BertTokenizer, int) CreateWordPieceFromJson(ModelSpec spec, ILogger logger)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(spec.TokenizerPath!));
        var model = document.RootElement.GetProperty("model");
        if (ModelType(model) != "WordPiece")
        {
            throw new InvalidDataException(
                $"{spec.Key}: 'tokenizer:path' '{spec.TokenizerPath}' is a {ModelType(model)} tokenizer; an embedding model needs WordPiece (BERT)");
        }

        // BertTokenizer reads a vocab.txt, ids being line numbers: write the JSON's vocabulary out in id order.
        var vocabulary = ReadVocabulary(model);
        var byId = new string[vocabulary.Count == 0 ? 0 : vocabulary.Values.Max() + 1];
        foreach (var (token, id) in vocabulary)
        {
            byId[id] = token;
        }

        var lowerCase = spec.LowerCase;
        if (document.RootElement.TryGetProperty("normalizer", out var normalizer) && normalizer.ValueKind == JsonValueKind.Object &&
            normalizer.TryGetProperty("lowercase", out var lowercase) && lowercase.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            lowerCase = lowercase.GetBoolean();
        }

        var text = string.Join('\n', byId.Select(token => token ?? "[unused]"));
        return (CreateBert(Encoding.UTF8.GetBytes(text), lowerCase, spec.Id, logger), byId.Length);
    }

    private static Tokenizer CreateFromJson(ModelSpec spec, ILogger logger)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(spec.TokenizerPath!));
        var model = document.RootElement.GetProperty("model");
        var type = ModelType(model);
        if (type == "WordPiece")
        {
            return CreateWordPieceFromJson(spec, logger).Item1;
        }

        if (type != "BPE")
        {
            throw new InvalidDataException($"{spec.Key}: 'tokenizer:path' '{spec.TokenizerPath}' has model type {type}; BPE and WordPiece are supported");
        }

        var specialTokens = new Dictionary<string, int>(StringComparer.Ordinal);
        if (document.RootElement.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in added.EnumerateArray())
            {
                specialTokens[token.GetProperty("content").GetString()!] = token.GetProperty("id").GetInt32();
            }
        }

        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var mergeList))
        {
            foreach (var merge in mergeList.EnumerateArray())
            {
                // "a b" in older files, ["a", "b"] in newer ones.
                merges.Add(merge.ValueKind == JsonValueKind.Array
                    ? $"{merge[0].GetString()} {merge[1].GetString()}"
                    : merge.GetString()!);
            }
        }

        // Byte-level BPE (GPT-2 and its descendants) is the one pre-tokenization understood here; others would silently
        // tokenize differently from training, so they are refused.
        var byteLevel = IsByteLevel(document.RootElement);
        if (!byteLevel)
        {
            throw new InvalidDataException($"{spec.Key}: 'tokenizer:path' '{spec.TokenizerPath}' is a BPE tokenizer without byte-level pre-tokenization; only byte-level BPE (GPT-2 style) is supported");
        }

        var options = new BpeOptions(ReadVocabulary(model))
        {
            Merges = merges,
            ByteLevel = true,
            SpecialTokens = specialTokens,
            PreTokenizer = new RegexPreTokenizer(Gpt2PreTokenization(), specialTokens),
            UnknownToken = model.TryGetProperty("unk_token", out var unknown) && unknown.ValueKind == JsonValueKind.String ? unknown.GetString() : null,
        };
        return BpeTokenizer.Create(options);
    }

    private static string ModelType(JsonElement model) =>
        model.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            // Old files omit the type: WordPiece has a continuing-subword prefix, BPE has merges.
            : model.TryGetProperty("merges", out _) ? "BPE" : model.TryGetProperty("continuing_subword_prefix", out _) ? "WordPiece" : "unknown";

    private static bool IsByteLevel(JsonElement root)
    {
        static bool HasByteLevel(JsonElement element) => element.ValueKind == JsonValueKind.Object &&
            ((element.TryGetProperty("type", out var type) && type.GetString() == "ByteLevel") ||
             (element.TryGetProperty("pretokenizers", out var list) && list.ValueKind == JsonValueKind.Array && list.EnumerateArray().Any(HasByteLevel)));

        return (root.TryGetProperty("pre_tokenizer", out var pre) && HasByteLevel(pre)) ||
               (root.TryGetProperty("decoder", out var decoder) && HasByteLevel(decoder));
    }

    private static Dictionary<string, int> ReadVocabulary(JsonElement model)
    {
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in model.GetProperty("vocab").EnumerateObject())
        {
            vocabulary[entry.Name] = entry.Value.GetInt32();
        }

        return vocabulary;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unicode normalization is unavailable (InvariantGlobalization is on or ICU is missing): {ModelId} will map accented letters to [UNK] rather than strip the accents")]
    private static partial void LogAccentsKept(ILogger logger, string modelId);
}
