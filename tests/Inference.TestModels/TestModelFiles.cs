namespace Inference.TestModels;

/// <summary>
/// A temporary directory of test decoders, written on demand and deleted on <see cref="Dispose"/>. The standard ones
/// cover what generation tests need; <see cref="Write"/> adds any other.
/// </summary>
public sealed class TestModelFiles : IDisposable
{
    /// <summary>The counting function of <see cref="TestDecoders.WriteCounting"/> over a small vocabulary.</summary>
    public const int CountingVocabularySize = 5000;

    public TestModelFiles()
    {
        Directory = Path.Combine(Path.GetTempPath(), "inference-test-models", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    /// <summary>The counting decoder without a KV cache (the whole sequence is rerun each step).</summary>
    public static DecoderSpec Counting { get; } = new() { VocabularySize = CountingVocabularySize, HistoryWeight = 1 };

    /// <summary>The same function with a KV cache: the sum of the earlier ids is read from the cache.</summary>
    public static DecoderSpec CountingWithCache { get; } = Counting with { KvCache = true };

    /// <summary>
    /// GPT-2's vocabulary (use <c>TiktokenTokenizer.CreateForModel("gpt2")</c>, end of sequence
    /// <see cref="TestDecoders.Gpt2EndOfText"/>), with a KV cache; next = last + 1 unless a test lists successors.
    /// </summary>
    public static DecoderSpec Gpt2 { get; } = new() { VocabularySize = TestDecoders.Gpt2VocabularySize, KvCache = true };

    /// <summary>
    /// GPT-2's vocabulary with a spread distribution: the greedy token has about 40% of the probability, the next ones
    /// 24%, 15%, …, so temperature, top_p and the seed change the text.
    /// </summary>
    public static DecoderSpec Gpt2Spread { get; } = Gpt2 with { Sharpness = 0.5f, HistoryWeight = 1 };

    /// <summary>Writes <paramref name="spec"/> as <paramref name="name"/>.onnx here (once) and returns its path.</summary>
    public string Write(string name, DecoderSpec spec)
    {
        ArgumentNullException.ThrowIfNull(name);
        var path = Path.Combine(Directory, name + ".onnx");
        lock (this)
        {
            if (!File.Exists(path))
            {
                TestDecoders.Write(path, spec);
            }
        }

        return path;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A session may still map a file on some platforms; the temp directory is cleaned up by the OS eventually.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
