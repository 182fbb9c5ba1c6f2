using Inference.Engine;
using Inference.Orchestration;

namespace Inference.Server.Orchestration;

/// <summary>What a model's tokenizer finds wrong with a request's inputs: the same codes for REST and the bus.</summary>
public static class InputTokens
{
    /// <summary>
    /// Inputs longer than the model accepts (<c>input_too_long</c>) and inputs that leave it nothing to read
    /// (<c>input_empty</c>: zero-width or control characters, lone accents), in input order; empty when none.
    /// </summary>
    public static IReadOnlyList<InputProblem> Problems(IInferenceModel model, TokenCount tokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.TooLong.Count == 0 && tokens.Empty.Count == 0)
            return [];

        return [.. tokens.TooLong
            .Select(i => new InputProblem(i, ErrorCodes.InputTooLong,
                $"Input {i} has {tokens.PerInput[i]} tokens; {model.Descriptor.Id} accepts at most {model.Descriptor.MaxInputTokens}."))
            .Concat(tokens.Empty.Select(i => new InputProblem(i, ErrorCodes.InputEmpty, $"Input {i} holds no text that {model.Descriptor.Id} can read.")))
            .OrderBy(x => x.Index)];
    }
}

/// <summary>Input <paramref name="Index"/> cannot be run: a stable code and a sentence.</summary>
public sealed record InputProblem(int Index, string Code, string Message);
