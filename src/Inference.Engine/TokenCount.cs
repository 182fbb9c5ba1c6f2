namespace Inference.Engine;

/// <summary>How a model's tokenizer sees a request, for validation and quota, without running the model.</summary>
/// <param name="PerInput">The number of tokens fed to the model for each input, special tokens included, padding excluded.</param>
/// <param name="Total">
/// The sum of <paramref name="PerInput"/>: the request's prompt tokens, as charged and as reported in its usage.
/// </param>
/// <param name="TooLong">Indices of inputs longer than the model's <see cref="ModelDescriptor.MaxInputTokens"/>.</param>
/// <param name="Empty">
/// Indices of inputs that hold no token besides the special ones: empty, whitespace, or only characters the tokenizer
/// drops. The model would still embed them; whether that is an error is the caller's decision.
/// </param>
public sealed record TokenCount(IReadOnlyList<int> PerInput, int Total, IReadOnlyList<int> TooLong, IReadOnlyList<int> Empty);
