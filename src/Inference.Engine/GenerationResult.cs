namespace Inference.Engine;

/// <summary>Why a generation ended, as OpenAI names it.</summary>
public enum FinishReason
{
    /// <summary>A stop string or the end-of-sequence token (<c>stop</c>).</summary>
    Stop,

    /// <summary><see cref="GenerationRequest.MaxTokens"/> was reached (<c>length</c>).</summary>
    Length,
}

/// <summary>A finished generation.</summary>
/// <param name="Text">The completion, without the prompt and without the stop string that ended it.</param>
/// <param name="FinishReason">Why it ended.</param>
/// <param name="PromptTokens">Tokens of the prompt, as fed to the model.</param>
/// <param name="CompletionTokens">Tokens the model generated, the end-of-sequence or stop tokens included.</param>
/// <param name="StartedAt">When its first model run began (its wait for a batch ended).</param>
public sealed record GenerationResult(string Text, FinishReason FinishReason, int PromptTokens, int CompletionTokens, DateTimeOffset StartedAt);
