using System.Text.Json;
using Inference.Engine.Registry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Tests;

/// <summary>The registry's tokenizer kinds: a BERT vocab.txt, GPT-2's packaged BPE, and Hugging Face tokenizer.json files.</summary>
public sealed class TokenizerKindTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "inference-tokenizer-tests", Guid.NewGuid().ToString("N"));

    public TokenizerKindTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Gpt2_is_the_packaged_byte_level_BPE_and_resolves_its_end_of_sequence_token()
    {
        var spec = Spec(TokenizerKind.Gpt2, path: null, eos: "<|endoftext|>");

        var tokenizer = TokenizerFactory.Create(spec, NullLogger.Instance);

        Assert.Equal([15496, 995], tokenizer.EncodeToIds("Hello world"));
        Assert.Equal(" caf\u00e9 \u2603!", tokenizer.Decode(tokenizer.EncodeToIds(" caf\u00e9 \u2603!")));
        Assert.Equal(50256, TokenizerFactory.ResolveEndOfSequence(spec, tokenizer));
        Assert.Equal(50256, TokenizerFactory.ResolveEndOfSequence(spec with { EosToken = "50256" }, tokenizer));
        Assert.Null(TokenizerFactory.ResolveEndOfSequence(spec with { EosToken = null }, tokenizer));
    }

    [Fact]
    public void An_end_of_sequence_token_that_is_not_one_token_names_the_model_and_key()
    {
        var spec = Spec(TokenizerKind.Gpt2, path: null, eos: "</s>");
        var tokenizer = TokenizerFactory.Create(spec, NullLogger.Instance);

        var exception = Assert.Throws<InvalidDataException>(() => TokenizerFactory.ResolveEndOfSequence(spec, tokenizer));

        Assert.StartsWith("Models:0 (gen): 'eos_token' '</s>' is not one token", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_byte_level_BPE_tokenizer_json_encodes_with_its_merges_and_special_tokens()
    {
        // A GPT-2-style file in miniature: byte-level pre-tokenization ('Ġ' is the space), merges in both spellings.
        string[] tokens = ["h", "e", "l", "o", "w", "r", "d", "\u0120", "he", "ll", "hell", "hello", "\u0120w", "or", "\u0120wor", "\u0120worl", "\u0120world", "!"];
        var vocab = tokens.Select((token, id) => (token, id)).ToDictionary(entry => entry.token, entry => entry.id);
        var path = Write("bpe.json", new
        {
            version = "1.0",
            added_tokens = new[] { new { id = 99, content = "<|endoftext|>", special = true } },
            pre_tokenizer = new { type = "ByteLevel", add_prefix_space = false },
            decoder = new { type = "ByteLevel" },
            model = new
            {
                type = "BPE",
                vocab,
                merges = new object[] { "h e", "l l", "he ll", new[] { "hell", "o" }, "\u0120 w", "o r", "\u0120w or", "\u0120wor l", "\u0120worl d" },
            },
        });
        var spec = Spec(TokenizerKind.TokenizerJson, path, eos: "<|endoftext|>");

        var tokenizer = TokenizerFactory.Create(spec, NullLogger.Instance);

        Assert.Equal([11, 16, 17], tokenizer.EncodeToIds("hello world!"));
        Assert.Equal([11, 99], tokenizer.EncodeToIds("hello<|endoftext|>"));
        Assert.Equal("hello world!", tokenizer.Decode([11, 16, 17]));
        Assert.Equal(99, TokenizerFactory.ResolveEndOfSequence(spec, tokenizer));
    }

    [Fact]
    public void A_WordPiece_tokenizer_json_encodes_like_the_vocab_txt_it_was_made_from()
    {
        var files = EmbeddingFiles.ExtractMiniLm(_directory);
        var lines = File.ReadAllText(files.Vocabulary).Split("\r\n");
        var vocab = new Dictionary<string, int>();
        for (var id = 0; id < lines.Length; id++)
        {
            if (lines[id].Length > 0)
                vocab.TryAdd(lines[id], id);
        }

        var path = Write("wordpiece.json", new
        {
            normalizer = new { type = "BertNormalizer", lowercase = true },
            model = new { type = "WordPiece", unk_token = "[UNK]", continuing_subword_prefix = "##", vocab },
        });

        var (fromJson, size) = TokenizerFactory.CreateWordPiece(Spec(TokenizerKind.TokenizerJson, path, eos: null), NullLogger.Instance);
        var (fromVocab, _) = TokenizerFactory.CreateWordPiece(Spec(TokenizerKind.Bert, files.Vocabulary, eos: null), NullLogger.Instance);

        Assert.Equal(30522, size);
        foreach (var text in new[] { "Hello world", "Tokenizers split unbelievably long words.", "Café naïve" })
            Assert.Equal(fromVocab.EncodeToIds(text), fromJson.EncodeToIds(text));
        Assert.Equal([101, 7592, 2088, 102], fromJson.EncodeToIds("Hello world"));
    }

    [Fact]
    public async Task An_embedding_model_from_an_ONNX_file_and_a_vocab_embeds_like_the_bundled_one()
    {
        var files = EmbeddingFiles.ExtractMiniLm(_directory);
        using var catalog = TestCatalogs.Create(
        [
            TestCatalogs.Bundled("bundled-copy"),
            new ModelOptions
            {
                Id = "from-files", Task = "embedding", Path = files.Model, MaxInputTokens = 256, Dimensions = 384,
                Tokenizer = new() { Kind = "bert", Path = files.Vocabulary },
            },
        ]);
        string[] inputs = ["A man is playing a guitar.", "hello world"];

        var fromFiles = await TestCatalogs.EmbeddingOf(catalog, "from-files").EmbedAsync(inputs, CancellationToken.None);
        var bundled = await TestCatalogs.EmbeddingOf(catalog, "bundled-copy").EmbedAsync(inputs, CancellationToken.None);

        Assert.Equal(bundled.PromptTokens, fromFiles.PromptTokens);
        for (var i = 0; i < inputs.Length; i++)
            Assert.InRange(Vectors.MaxAbsoluteDifference(bundled.Embeddings[i], fromFiles.Embeddings[i]), 0, 1e-6);
        Assert.True(catalog.TryDescribe("from-files", out var descriptor));
        Assert.Equal(("unknown", DateTimeOffset.UnixEpoch, "cpu"), (descriptor.Publisher, descriptor.Published, descriptor.Device));
    }

    [Fact]
    public void A_generation_entry_builds_its_descriptor_tokenizer_and_end_of_sequence_id()
    {
        // Parts only: the catalogue passes them to DecoderGenerationModel, whose body lands from the generation branch.
        var spec = Spec(TokenizerKind.Gpt2, path: null, eos: "<|endoftext|>") with { Path = "/models/distilgpt2/model.onnx", Device = "cuda" };

        var parts = GenerationModelFactory.Prepare(spec, NullLoggerFactory.Instance);

        Assert.Equal(new ModelDescriptor("gen", ModelKind.TextGeneration, 1024, null, 8)
        {
            Published = DateTimeOffset.UnixEpoch,
            Publisher = "unknown",
            // The CPU build has no CUDA provider: the model is listed, and runs, on the CPU.
            Device = "cpu",
            MaxOutputTokens = 64,
            MaxBatchDelay = TimeSpan.FromMilliseconds(3),
        }, parts.Descriptor);
        Assert.IsType<TiktokenTokenizer>(parts.Tokenizer);
        Assert.Equal(50256, parts.EndOfSequenceTokenId);
        Assert.Equal("/models/distilgpt2/model.onnx", parts.Path);
    }

    private string Write(string name, object content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, JsonSerializer.Serialize(content));
        return path;
    }

    private static ModelSpec Spec(TokenizerKind kind, string? path, string? eos) => new(
        "Models:0 (gen)", "gen", ModelKind.TextGeneration, "/unused.onnx", kind, path, LowerCase: true, MaxInputTokens: 1024,
        MaxBatchSize: 8, TimeSpan.FromMilliseconds(3), "cpu", Threads: 1, Dimensions: null, MaxOutputTokens: 64, eos,
        Publisher: null, Published: null);
}
