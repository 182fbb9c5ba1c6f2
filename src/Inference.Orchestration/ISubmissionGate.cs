using Inference.Contracts;

namespace Inference.Orchestration;

/// <summary>
/// What the saga asks of the host before it stores a bus submission: whether the tenant may submit (it exists and is
/// enabled), whether the model is served and takes these inputs, and how many tokens the request is charged for,
/// counted by the model's own tokenizer. The submission has already passed <see cref="SubmissionRules"/>.
/// </summary>
/// <remarks>Resolved from the message's scope, so an implementation may use scoped services such as a DbContext.</remarks>
public interface ISubmissionGate
{
    ValueTask<SubmissionDecision> CheckAsync(SubmitInference submission, CancellationToken cancellationToken);
}

/// <summary>Either the prompt tokens to reserve, or why the submission is refused.</summary>
public sealed record SubmissionDecision
{
    private SubmissionDecision(int promptTokens, SubmissionRefusal? refusal, GenerationParameters? parameters = null)
    {
        PromptTokens = promptTokens;
        Refusal = refusal;
        Parameters = parameters;
    }

    /// <summary>The tokens the request's inputs hold, which its reservation starts from.</summary>
    public int PromptTokens { get; }

    /// <summary>Why the submission is refused; null when it is admitted.</summary>
    public SubmissionRefusal? Refusal { get; }

    /// <summary>
    /// For a text-generation model: the parameters the request runs with, the model's defaults filled in
    /// (<see cref="GenerationRules.Resolve"/>); its reservation is <see cref="PromptTokens"/> plus their
    /// <see cref="GenerationParameters.MaxTokens"/>. Null for a model that does not generate.
    /// </summary>
    public GenerationParameters? Parameters { get; }

    public static SubmissionDecision Admit(int promptTokens) =>
        new(promptTokens >= 0 ? promptTokens : throw new ArgumentOutOfRangeException(nameof(promptTokens)), null);

    /// <summary>Admits a generation with its resolved <paramref name="parameters"/>.</summary>
    public static SubmissionDecision Admit(int promptTokens, GenerationParameters parameters) =>
        new(promptTokens >= 0 ? promptTokens : throw new ArgumentOutOfRangeException(nameof(promptTokens)), null,
            parameters ?? throw new ArgumentNullException(nameof(parameters)));

    public static SubmissionDecision Refuse(string code, string message) => new(0, new SubmissionRefusal(code, message));
}
