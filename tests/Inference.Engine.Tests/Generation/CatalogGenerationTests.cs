using Inference.Engine.Registry;
using Inference.TestModels;

namespace Inference.Engine.Tests.Generation;

/// <summary>A text-generation model registered as a deployment registers one: a <c>Models</c> entry read by the catalogue.</summary>
public sealed class CatalogGenerationTests(GenerationFixture fixture) : IClassFixture<GenerationFixture>
{
    [Fact]
    public async Task A_gpt2_entry_serves_a_text_generation_model_that_ends_at_endoftext()
    {
        var path = fixture.Files.Write("catalog-gpt2", fixture.Saying("Once upon a", " time there lived"));
        using var catalog = TestCatalogs.Create(
        [
            new ModelOptions
            {
                Id = "tiny-gpt2",
                Task = "text-generation",
                Path = path,
                Tokenizer = new() { Kind = "gpt2" },
                EosToken = "<|endoftext|>",
                MaxInputTokens = 64,
                MaxOutputTokens = 32,
                MaxBatchSize = 4,
            },
        ]);

        Assert.True(catalog.TryGet("tiny-gpt2", out var found));
        var model = Assert.IsAssignableFrom<ITextGenerationModel>(found);
        Assert.Equal(TestDecoders.Gpt2EndOfText, model.EndOfSequenceTokenId);
        Assert.True(catalog.TryDescribe("tiny-gpt2", out var descriptor));
        Assert.Equal((ModelKind.TextGeneration, "text-generation", 64, (int?)32, 4, (int?)null),
            (descriptor.Kind, descriptor.Task, descriptor.MaxInputTokens, descriptor.MaxOutputTokens, descriptor.MaxBatchSize, descriptor.Dimensions));

        var result = await model.GenerateAsync(
            new GenerationRequest { Prompt = "Once upon a", MaxTokens = 32, Temperature = 0f }, CancellationToken.None);

        // The end of sequence is found by the id the entry's eos_token names: without it the text would run to 32 tokens.
        Assert.Equal(" time there lived", result.Text);
        Assert.Equal(FinishReason.Stop, result.FinishReason);
        Assert.Equal(fixture.Encode(" time there lived").Count + 1, result.CompletionTokens);
        Assert.Equal(fixture.Encode("Once upon a").Count, result.PromptTokens);
    }

    [Fact]
    public void The_end_of_sequence_token_may_be_given_as_its_id()
    {
        var path = fixture.Files.Write("catalog-gpt2-by-id", TestModelFiles.Gpt2);
        using var catalog = TestCatalogs.Create(
        [
            new ModelOptions
            {
                Id = "by-id", Task = "text-generation", Path = path, Tokenizer = new() { Kind = "gpt2" }, EosToken = "50256", MaxInputTokens = 64,
            },
        ]);

        Assert.True(catalog.TryGet("by-id", out var found));
        Assert.Equal(TestDecoders.Gpt2EndOfText, Assert.IsAssignableFrom<ITextGenerationModel>(found).EndOfSequenceTokenId);
    }
}
