using System.Globalization;
using Inference.TestModels;
using Microsoft.ML.Tokenizers;

namespace Inference.Server.Tests.Api;

/// <summary>
/// The embedded app configured only through the <c>Models</c> section, as an operator would: the bundled MiniLM and two
/// real decoders of GPT-2's vocabulary written at start by <see cref="TestModelFiles"/>, run by the real registry and the
/// real worker (no stand-in anywhere). <see cref="CounterId"/> counts on from the prompt's last token (with a KV cache),
/// so its greedy output is known exactly; <see cref="SpreadId"/> spreads its probability, so sampling changes its text;
/// <see cref="SlowId"/> counts as the first does but spends real compute on every step, so a request is still running
/// when a spec acts on it.
/// </summary>
public sealed class RealDecoderApp : EmbeddedApp
{
    public const string CounterId = "gpt2-counter";
    public const string SpreadId = "gpt2-spread";
    public const string SlowId = "gpt2-slow";
    public const int MaxOutputTokens = 64;
    public const int MaxBatchSize = 8;

    private readonly TestModelFiles _files;

    public RealDecoderApp()
        : this(new TestModelFiles())
    {
    }

    private RealDecoderApp(TestModelFiles files)
        : base(ModelSettings(files)) => _files = files;

    /// <summary>The tokenizer the models are configured with (<c>tokenizer:kind gpt2</c>).</summary>
    public static Tokenizer Tokenizer { get; } = TiktokenTokenizer.CreateForModel("gpt2");

    /// <summary>What <see cref="CounterId"/> must generate greedily for <paramref name="prompt"/>: the text, its ids, the prompt's token count.</summary>
    public static (string Text, IReadOnlyList<int> Ids, int PromptTokens) Expected(string prompt, int maxTokens) =>
        Expected(TestModelFiles.Gpt2, prompt, maxTokens);

    /// <summary>What the model <paramref name="spec"/> describes generates greedily for <paramref name="prompt"/>.</summary>
    public static (string Text, IReadOnlyList<int> Ids, int PromptTokens) Expected(DecoderSpec spec, string prompt, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var promptIds = Tokenizer.EncodeToIds(prompt);
        var ids = spec.Greedy(promptIds, maxTokens);
        Assert.DoesNotContain(TestDecoders.Gpt2EndOfText, ids); // A spec's prompt must not run into the end of sequence.
        return (Tokenizer.Decode(ids), ids, promptIds.Count);
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _files.Dispose();
    }

    /// <summary>The <c>Models</c> section that serves MiniLM and the two decoders, whose files are written to <paramref name="files"/>.</summary>
    public static Dictionary<string, string?> ModelSettings(TestModelFiles files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var settings = new Dictionary<string, string?>
        {
            ["Models:0:id"] = "all-minilm-l6-v2",
            ["Models:0:task"] = "embedding",
            ["Models:0:path"] = "bundled:all-minilm-l6-v2",
        };
        foreach (var (index, id, spec) in new[]
        {
            (1, CounterId, TestModelFiles.Gpt2), (2, SpreadId, TestModelFiles.Gpt2Spread),
            (3, SlowId, TestModelFiles.Gpt2 with { ComputeWidth = 2048, ComputeDepth = 200 }),
        })
        {
            var entry = $"Models:{index.ToString(CultureInfo.InvariantCulture)}:";
            settings[entry + "id"] = id;
            settings[entry + "task"] = "text-generation";
            settings[entry + "path"] = files.Write(id, spec);
            settings[entry + "tokenizer:kind"] = "gpt2";
            settings[entry + "eos_token"] = TestDecoders.Gpt2EndOfText.ToString(CultureInfo.InvariantCulture);
            settings[entry + "max_input_tokens"] = "128";
            settings[entry + "max_output_tokens"] = MaxOutputTokens.ToString(CultureInfo.InvariantCulture);
            settings[entry + "max_batch_size"] = MaxBatchSize.ToString(CultureInfo.InvariantCulture);
            settings[entry + "max_batch_delay_ms"] = "20";
            settings[entry + "device"] = "cpu";
            settings[entry + "threads"] = "1";
            settings[entry + "publisher"] = "tests";
            settings[entry + "published"] = "2026-12-01";
        }

        return settings;
    }
}
