using Inference.Contracts;

namespace Inference.Testing;

/// <summary>
/// A model the harness serves, and what it does with a request. A new one answers with <see cref="FakeEmbeddings"/>
/// of <see cref="FakeEmbeddings.DefaultDimensions"/> dimensions at once, and accepts inputs of up to 256 tokens (by
/// <see cref="SimpleTokenizer"/>), like the platform's all-MiniLM-L6-v2. Each request reads the script when its run
/// starts, so a test may change it between requests.
/// </summary>
public sealed class ScriptedModel
{
    private volatile Func<IReadOnlyList<string>, InferenceOutput> _output;
    private volatile string? _failure;
    private long _delayTicks;
    private int _maxInputTokens = 256;
    private int _runs;

    internal ScriptedModel(string id)
    {
        Id = id;
        _output = Fake(FakeEmbeddings.DefaultDimensions);
    }

    public string Id { get; }

    /// <summary>The most tokens one input may hold; a longer one is refused at the door with <c>input_too_long</c>.</summary>
    public int MaxInputTokens => Volatile.Read(ref _maxInputTokens);

    /// <summary>How long each run takes (real time, not the harness's clock); a cancel stops a run that is waiting.</summary>
    public TimeSpan Delay => TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));

    /// <summary>How many runs have started (a run is the model's work for one request).</summary>
    public int Runs => Volatile.Read(ref _runs);

    /// <summary>Answers each input with its <see cref="FakeEmbeddings"/> of <paramref name="dimensions"/> floats.</summary>
    public ScriptedModel ReturnsFakeEmbeddings(int dimensions = FakeEmbeddings.DefaultDimensions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        return Succeeds(Fake(dimensions));
    }

    /// <summary>Answers every request with these embeddings, whatever its inputs.</summary>
    public ScriptedModel Returns(params float[][] embeddings)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        var output = new InferenceOutput { Embeddings = [.. embeddings.Select(x => x.ToArray())] };
        return Succeeds(_ => output);
    }

    /// <summary>Answers each request with what <paramref name="output"/> makes of its inputs.</summary>
    public ScriptedModel Returns(Func<IReadOnlyList<string>, InferenceOutput> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        return Succeeds(output);
    }

    /// <summary>
    /// Makes every run fail, as a model that keeps throwing: the request fails with <c>inference_failed</c> (the code
    /// the platform gives any model failure) and a message that holds <paramref name="message"/>, and nothing is charged.
    /// </summary>
    public ScriptedModel Fails(string message = "The scripted model failed.")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(message);
        _failure = message;
        return this;
    }

    /// <summary>Makes every run take <paramref name="delay"/> of real time before it answers or fails.</summary>
    public ScriptedModel Takes(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        Interlocked.Exchange(ref _delayTicks, delay.Ticks);
        return this;
    }

    /// <summary>Refuses at the door (<c>input_too_long</c>) an input of more than <paramref name="tokens"/> tokens.</summary>
    public ScriptedModel AcceptsAtMost(int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        Volatile.Write(ref _maxInputTokens, tokens);
        return this;
    }

    /// <summary>Counts a run that starts, and returns how it makes its output.</summary>
    internal Func<IReadOnlyList<string>, InferenceOutput> StartRun()
    {
        Interlocked.Increment(ref _runs);
        return _output;
    }

    /// <summary>The scripted failure's message, or null when runs succeed.</summary>
    internal string? Failure => _failure;

    private ScriptedModel Succeeds(Func<IReadOnlyList<string>, InferenceOutput> output)
    {
        _output = output;
        _failure = null;
        return this;
    }

    private static Func<IReadOnlyList<string>, InferenceOutput> Fake(int dimensions) =>
        inputs => new InferenceOutput { Embeddings = [.. inputs.Select(input => FakeEmbeddings.For(input, dimensions))] };
}
