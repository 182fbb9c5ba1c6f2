using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Inference.Engine.Generation;

/// <summary>
/// What a decoder's session takes and returns, read from its metadata: which optional inputs it has and the shape of
/// its KV cache, named as Hugging Face Optimum exports them.
/// </summary>
/// <param name="HasAttentionMask">Takes <c>attention_mask</c> [batch, past + sequence]: sequences of different lengths
/// can share a run, left-padded.</param>
/// <param name="HasPositionIds">Takes <c>position_ids</c> [batch, sequence].</param>
/// <param name="HasUseCacheBranch">Takes Optimum's merged-decoder switch <c>use_cache_branch</c> (bool [1]).</param>
/// <param name="PastNames">The cache inputs, <c>past_key_values.{i}.key</c>/<c>.value</c>; empty without a cache.</param>
/// <param name="PresentNames">The cache outputs, <c>present.{i}.key</c>/<c>.value</c>, in the same order.</param>
/// <param name="Heads">The cache's second dimension.</param>
/// <param name="HeadSize">The cache's last dimension.</param>
/// <param name="MaxLength">The longest sequence the model declares it takes (metadata), or null when it declares none.</param>
internal sealed partial record DecoderLayout(
    bool HasAttentionMask,
    bool HasPositionIds,
    bool HasUseCacheBranch,
    string[] PastNames,
    string[] PresentNames,
    int Heads,
    int HeadSize,
    int? MaxLength)
{
    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string PositionIds = "position_ids";
    public const string UseCacheBranch = "use_cache_branch";
    public const string Logits = "logits";

    // The metadata keys under which exports and configs declare the longest sequence, most specific first.
    private static readonly string[] MaxLengthKeys = ["max_position_embeddings", "n_positions", "max_sequence_length"];

    public bool HasCache => PastNames.Length > 0;

    /// <summary>
    /// Whether sequences of different lengths can share a run, left-padded: only when the model is told which positions
    /// are padding (the mask) and where each token is (the position ids), so that padding changes nothing.
    /// </summary>
    public bool CanPad => HasAttentionMask && HasPositionIds;

    public static DecoderLayout Read(InferenceSession session, string modelId)
    {
        var inputs = session.InputMetadata;
        if (!inputs.ContainsKey(InputIds) || !session.OutputMetadata.TryGetValue(Logits, out var logits) || logits.Dimensions.Length != 3)
        {
            throw new InvalidDataException(
                $"Model {modelId} is not a decoder: it needs an input {InputIds} and an output {Logits} [batch, sequence, vocabulary].");
        }

        var past = new SortedDictionary<(int Layer, int Kind), string>();
        var unknown = new List<string>();
        foreach (var (name, metadata) in inputs)
        {
            var match = PastPattern().Match(name);
            if (match.Success)
            {
                if (metadata.ElementDataType != TensorElementType.Float || metadata.Dimensions.Length != 4)
                {
                    throw new InvalidDataException(
                        $"Model {modelId}: the cache input {name} must be float32 [batch, heads, past, head size]; other precisions are not supported.");
                }

                past[(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), match.Groups[2].Value == "key" ? 0 : 1)] = name;
            }
            else if (name is not (InputIds or AttentionMask or PositionIds or UseCacheBranch))
            {
                unknown.Add(name);
            }
        }

        if (unknown.Count > 0)
        {
            throw new InvalidDataException($"Model {modelId} has inputs a decoder does not take: {string.Join(", ", unknown)}.");
        }

        var pastNames = past.Values.ToArray();
        var presentNames = pastNames.Select(n => PastPattern().Replace(n, "present.$1.$2")).ToArray();
        var missing = presentNames.Where(n => !session.OutputMetadata.ContainsKey(n)).ToArray();
        if (missing.Length > 0)
        {
            throw new InvalidDataException($"Model {modelId} takes a KV cache but does not return {string.Join(", ", missing)}.");
        }

        var (heads, headSize) = (0, 0);
        if (pastNames.Length > 0)
        {
            var dimensions = inputs[pastNames[0]].Dimensions;
            (heads, headSize) = (dimensions[1], dimensions[3]);
            if (heads <= 0 || headSize <= 0)
            {
                throw new InvalidDataException(
                    $"Model {modelId}: the cache input {pastNames[0]} must have fixed heads and head size (the export's own).");
            }
        }

        return new DecoderLayout(
            inputs.ContainsKey(AttentionMask),
            inputs.ContainsKey(PositionIds),
            inputs.ContainsKey(UseCacheBranch),
            pastNames,
            presentNames,
            heads,
            headSize,
            ReadMaxLength(session.ModelMetadata.CustomMetadataMap));
    }

    private static int? ReadMaxLength(Dictionary<string, string> metadata)
    {
        foreach (var key in MaxLengthKeys)
        {
            if (metadata.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0)
            {
                return value;
            }
        }

        return null;
    }

    [GeneratedRegex(@"^past_key_values\.(\d+)\.(key|value)$", RegexOptions.CultureInvariant)]
    private static partial Regex PastPattern();
}
