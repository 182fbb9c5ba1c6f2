using System.Diagnostics;
using Inference.Engine;
using Inference.Engine.Registry;
using Inference.TestModels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// Decode throughput of a text-generation model in this process: a number of concurrent greedy generations, each
/// starting the next as soon as it ends, for a fixed time; the tokens they generated per second.
/// </summary>
internal static class GenerationThroughput
{
    /// <summary>The registry id of the test decoder.</summary>
    public const string ModelId = "test-decoder";

    /// <summary>
    /// GPT-2 tokens (ids 464, 3797, 3332, 319, 262) all below the counting decoder's vocabulary of
    /// <see cref="TestModelFiles.CountingVocabularySize"/>, so that prompt and output are in the same range.
    /// </summary>
    private const string Prompt = "The cat sat on the";

    /// <summary>
    /// The test decoder of tests/Inference.TestModels, served as a deployment serves a model: a <c>Models</c> entry
    /// (text-generation, GPT-2's tokenizer) read by <see cref="ModelCatalog"/>. It is the counting decoder with a KV cache,
    /// whose every token also runs a chain of four 1024x1024 MatMuls, so that a step costs real compute and batching has
    /// something to share; its <c>max_batch_size</c> is 8, so that 8 concurrent requests decode together. No
    /// end-of-sequence token: every generation runs to its <c>max_tokens</c>, and the figure counts the same work each time.
    /// </summary>
    public static (TestDecoder? Decoder, string? Missing) CreateTestDecoder()
    {
        var files = new TestModelFiles();
        try
        {
            var path = files.Write(ModelId, TestModelFiles.CountingWithCache with { ComputeWidth = 1024, ComputeDepth = 4 });
            var registry = new ModelRegistryOptions();
            registry.Models.Add(new ModelOptions
            {
                Id = ModelId,
                Task = "text-generation",
                Path = path,
                Tokenizer = new ModelTokenizerOptions { Kind = "gpt2" },
                MaxInputTokens = 64,
                MaxOutputTokens = 1024,
                MaxBatchSize = 8,
            });
            var catalog = new ModelCatalog(Options.Create(new EngineOptions()), Options.Create(registry), NullLoggerFactory.Instance);
            if (!catalog.TryGet(ModelId, out var found) || found is not ITextGenerationModel model)
            {
                catalog.Dispose();
                throw new InvalidOperationException($"The catalogue has no text-generation model {ModelId}.");
            }

            return (new TestDecoder(model, Prompt, new DecoderOwner(catalog, files)), null);
        }
        catch
        {
            files.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Generated tokens per second with <paramref name="concurrency"/> calls of <see cref="ITextGenerationModel.GenerateAsync"/>
    /// always in progress, temperature 0, for at least <paramref name="duration"/>: each caller starts calls until the time is up
    /// and finishes the one it is in, so every token counted was generated inside the elapsed time measured.
    /// </summary>
    public static async Task<double> MeasureAsync(ITextGenerationModel model, string prompt, int concurrency, int maxTokens,
        TimeSpan duration, CancellationToken cancellationToken)
    {
        var request = new GenerationRequest { Prompt = prompt, MaxTokens = maxTokens, Temperature = 0f };

        // The first calls load the session, size ONNX Runtime's buffers for this many sequences and settle the JIT.
        await Task.WhenAll(Enumerable.Range(0, concurrency)
            .Select(_ => model.GenerateAsync(request, cancellationToken))).ConfigureAwait(false);

        var clock = Stopwatch.StartNew();
        async Task<long> CallerAsync()
        {
            var tokens = 0L;
            while (clock.Elapsed < duration)
                tokens += (await model.GenerateAsync(request, cancellationToken).ConfigureAwait(false)).CompletionTokens;
            return tokens;
        }

        var generated = await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(CallerAsync, cancellationToken)))
            .ConfigureAwait(false);
        return generated.Sum() / clock.Elapsed.TotalSeconds;
    }
}

/// <summary>A text-generation model to measure and the prompt it is given.</summary>
/// <param name="Model">The model; decoded in this process.</param>
/// <param name="Prompt">The prompt of every request: short, so that the figure is of decoding rather than of the prompt.</param>
/// <param name="Owner">Disposed after the measurement: whatever holds the model's session and files; null when nothing.</param>
internal sealed record TestDecoder(ITextGenerationModel Model, string Prompt, IDisposable? Owner);

/// <summary>The catalogue holding the decoder's session, then the directory of its file: disposed in that order.</summary>
internal sealed class DecoderOwner(ModelCatalog catalog, TestModelFiles files) : IDisposable
{
    public void Dispose()
    {
        catalog.Dispose();
        files.Dispose();
    }
}
