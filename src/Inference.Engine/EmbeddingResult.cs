namespace Inference.Engine;

/// <summary>The embeddings for one request.</summary>
/// <param name="Embeddings">One L2-normalised vector per input, in input order.</param>
/// <param name="PromptTokens">Tokens fed to the model for all inputs together, padding excluded; equals <see cref="TokenCount.Total"/>.</param>
/// <param name="StartedAt">When the first model run holding one of its inputs began (its wait for a batch ended).</param>
public sealed record EmbeddingResult(IReadOnlyList<float[]> Embeddings, int PromptTokens, DateTimeOffset StartedAt = default);
