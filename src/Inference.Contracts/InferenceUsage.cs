namespace Inference.Contracts;

/// <summary>Tokens a request actually used; what its quota is settled with.</summary>
public sealed record InferenceUsage
{
    public required int PromptTokens { get; init; }

    public required int CompletionTokens { get; init; }

    public int TotalTokens => PromptTokens + CompletionTokens;
}
