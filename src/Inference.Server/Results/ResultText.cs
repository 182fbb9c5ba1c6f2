using System.Text;
using Inference.Contracts;

namespace Inference.Server.Results;

/// <summary>
/// A stored result as output and back. A generation's text is kept as UTF-8 bytes: it round-trips every character
/// exactly, U+0000 and the other control characters included, which neither PostgreSQL's text nor its jsonb can hold.
/// (An unpaired surrogate never reaches the store: the JSON of the messages that carry the text replaces it with U+FFFD.)
/// </summary>
public static class ResultText
{
    /// <summary>Fills <paramref name="result"/> with <paramref name="output"/>: embeddings, or a generation's text and finish reason.</summary>
    public static InferenceResult Fill(InferenceResult result, InferenceOutput output)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(output);
        result.Embeddings = EmbeddingEncoding.Encode(output.Embeddings ?? [], out var dimensions);
        result.Dimensions = dimensions;
        result.TextUtf8 = output.Text is null ? null : Encoding.UTF8.GetBytes(output.Text);
        result.FinishReason = output.FinishReason;
        return result;
    }

    /// <summary>The output a stored result holds.</summary>
    public static InferenceOutput Output(InferenceResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.TextUtf8 is { } text
            ? new InferenceOutput { Text = Encoding.UTF8.GetString(text), FinishReason = result.FinishReason }
            : new InferenceOutput { Embeddings = result.Embeddings is null ? [] : EmbeddingEncoding.Decode(result.Embeddings, result.Dimensions) };
    }

    /// <summary>The output as <c>GET /v1/inferences/{id}</c> shows it; null when none is stored.</summary>
    public static Api.OutputResponse? Response(InferenceResult? result)
    {
        if (result is null)
            return null;
        if (result.TextUtf8 is { } text)
            return new Api.OutputResponse { Text = Encoding.UTF8.GetString(text), FinishReason = result.FinishReason };
        return result.Embeddings is { } embeddings ? new Api.OutputResponse { Embeddings = EmbeddingEncoding.Decode(embeddings, result.Dimensions) } : null;
    }
}
