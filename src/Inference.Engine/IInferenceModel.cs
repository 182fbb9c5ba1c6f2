namespace Inference.Engine;

/// <summary>
/// A model in the <see cref="ModelCatalog"/>. Counting tokens is cheap and never loads the model, so the API role can
/// validate and charge a request; running the model goes through the interface its <see cref="ModelKind"/> names.
/// Implementations are safe for concurrent callers.
/// </summary>
public interface IInferenceModel
{
    ModelDescriptor Descriptor { get; }

    /// <summary>Whether the ONNX Runtime session exists yet: it is created on first use or by <see cref="WarmUpAsync"/>.</summary>
    bool IsLoaded { get; }

    /// <summary>Tokenizes <paramref name="inputs"/> with the model's tokenizer only; the session is not loaded.</summary>
    TokenCount CountTokens(IReadOnlyList<string> inputs);

    /// <summary>
    /// The text that the model's own token ids <paramref name="tokenIds"/> stand for (special tokens dropped), for clients
    /// that send tokens instead of text; null when an id is not in the model's vocabulary.
    /// </summary>
    string? DecodeTokens(IReadOnlyList<int> tokenIds);

    /// <summary>
    /// Loads the model now rather than on the first request: extracts it to the cache directory if needed and creates
    /// the session. A worker calls this at start so that its first request does not pay for it.
    /// </summary>
    Task WarmUpAsync(CancellationToken cancellationToken);
}
