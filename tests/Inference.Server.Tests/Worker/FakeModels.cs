using System.Collections.Concurrent;
using Inference.Engine;

namespace Inference.Server.Tests.Worker;

/// <summary>Descriptors for the fakes: the fields the worker reads (id, kind, batch size, output limit).</summary>
internal static class FakeDescriptors
{
    public static string NewId(string kind) => $"fake-{kind}-{Guid.NewGuid():N}"[..24];

    public static ModelDescriptor Of(string id, ModelKind kind, int maxBatchSize, int? maxOutputTokens = null, int concurrentRuns = 1) =>
        new(id, kind, MaxInputTokens: 128, Dimensions: kind == ModelKind.Embedding ? 2 : null, maxBatchSize)
        {
            ConcurrentRuns = concurrentRuns,
            Published = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
            Publisher = "tests",
            Device = "cpu",
            MaxOutputTokens = maxOutputTokens,
        };
}

/// <summary>What every fake does alike: counting tokens by words, and a warm-up a test can hold or fail.</summary>
internal abstract class FakeModel(ModelDescriptor descriptor) : IInferenceModel
{
    private volatile bool _loaded;

    public ModelDescriptor Descriptor { get; } = descriptor;

    public bool IsLoaded => _loaded;

    /// <summary>The warm-up ends when this completes (and fails if it faults); open unless a test replaces it.</summary>
    public TaskCompletionSource WarmUpGate { get; set; } = NewGate(open: true);

    public TokenCount CountTokens(IReadOnlyList<string> inputs)
    {
        var perInput = inputs.Select(Words).ToList();
        return new TokenCount(perInput, perInput.Sum(), [], []);
    }

    public string? DecodeTokens(IReadOnlyList<int> tokenIds) => null;

    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        await WarmUpGate.Task.WaitAsync(cancellationToken);
        _loaded = true;
    }

    protected static int Words(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    public static TaskCompletionSource NewGate(bool open = false)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open)
            gate.SetResult();
        return gate;
    }
}

/// <summary>An embedding model that counts the calls in progress and finishes them only when the test opens its gate.</summary>
internal sealed class FakeEmbeddingModel(string id, int maxBatchSize, int concurrentRuns = 1)
    : FakeModel(FakeDescriptors.Of(id, ModelKind.Embedding, maxBatchSize, concurrentRuns: concurrentRuns)), IEmbeddingModel
{
    private int _inFlight;
    private int _mostInFlight;

    /// <summary>The most calls that were in progress at once.</summary>
    public int MostInFlight => Volatile.Read(ref _mostInFlight);

    /// <summary>Calls finish once this completes; open unless the test replaces it.</summary>
    public TaskCompletionSource Release { get; set; } = NewGate(open: true);

    /// <summary>Added to the time of the call to make the result's <see cref="EmbeddingResult.StartedAt"/>.</summary>
    public TimeSpan StartedAtShift { get; set; }

    public async Task<EmbeddingResult> EmbedAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken)
    {
        var startedAt = DateTimeOffset.UtcNow + StartedAtShift;
        var now = Interlocked.Increment(ref _inFlight);
        int most;
        while (now > (most = Volatile.Read(ref _mostInFlight)) && Interlocked.CompareExchange(ref _mostInFlight, now, most) != most)
        {
        }

        try
        {
            await Release.Task.WaitAsync(cancellationToken);
            return new EmbeddingResult([.. inputs.Select(_ => new[] { 0.6f, 0.8f })], CountTokens(inputs).Total, startedAt);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public Task<EmbeddingResult> EmbedBatchDirectAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken) =>
        EmbedAsync(inputs, cancellationToken);
}

/// <summary>
/// A text-generation model that writes <c>w0 w1 w2 ...</c>, one word per step, up to the request's token limit, hands
/// each word to <see cref="GenerationRequest.OnText"/>, and keeps every request it was given. A prompt of <c>refuse</c>
/// is refused as the engine refuses bad parameters; <see cref="StepDelay"/> slows the steps, and the token is checked
/// between them, as the engine does.
/// </summary>
internal sealed class FakeGenerationModel(string id, int maxBatchSize, int maxOutputTokens)
    : FakeModel(FakeDescriptors.Of(id, ModelKind.TextGeneration, maxBatchSize, maxOutputTokens)), ITextGenerationModel
{
    public ConcurrentQueue<GenerationRequest> Requests { get; } = new();

    public TimeSpan StepDelay { get; set; }

    /// <summary>Completed when a generation saw its cancellation.</summary>
    public TaskCompletionSource Stopped { get; } = NewGate();

    /// <summary>Completed when a generation took its first step.</summary>
    public TaskCompletionSource Stepping { get; } = NewGate();

    public int? EndOfSequenceTokenId => null;

    public async Task<GenerationResult> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken)
    {
        Requests.Enqueue(request);
        if (request.Prompt == "refuse")
            throw new ArgumentOutOfRangeException(nameof(request), "temperature must be between 0 and 2.");

        var startedAt = DateTimeOffset.UtcNow;
        var words = new List<string>();
        for (var step = 0; step < request.MaxTokens; step++)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Stopped.TrySetResult();
                cancellationToken.ThrowIfCancellationRequested();
            }

            var word = (step == 0 ? "" : " ") + $"w{step}";
            words.Add(word);
            request.OnText?.Invoke(word);
            Stepping.TrySetResult();
            if (StepDelay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(StepDelay, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    Stopped.TrySetResult();
                    throw;
                }
            }
        }

        return new GenerationResult(string.Concat(words), FinishReason.Length, Words(request.Prompt), words.Count, startedAt);
    }
}
