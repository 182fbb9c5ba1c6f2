using System.Diagnostics;
using Inference.Engine;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// Decode throughput of a text-generation model in this process: a number of concurrent greedy generations, each
/// starting the next as soon as it ends, for a fixed time; the tokens they generated per second.
/// </summary>
internal static class GenerationThroughput
{
    /// <summary>
    /// The test decoder, with a prompt it continues, or null (and why) while there is none. ADAPT AFTER THE MERGE: build
    /// the test decoder of tests/Inference.TestModels here (its ONNX writer and a <c>DecoderGenerationModel</c> over it,
    /// with a <c>max_batch_size</c> of at least 8 so that 8 concurrent requests decode together) and return it; the
    /// benchmark then reports <c>generation_tokens_per_s_b1</c> and <c>_b8</c> instead of null. Add a project reference
    /// to tests/Inference.TestModels in Inference.Benchmarks.csproj at the same time.
    /// </summary>
    public static (TestDecoder? Decoder, string? Missing) CreateTestDecoder() =>
        (null, "the test decoder (tests/Inference.TestModels, with DecoderGenerationModel) is not in this build yet");

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
