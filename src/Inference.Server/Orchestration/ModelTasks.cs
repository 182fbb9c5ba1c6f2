using Inference.Contracts;
using Inference.Engine;
using Inference.Orchestration;

namespace Inference.Server.Orchestration;

/// <summary>
/// What a request must be for its model's task, the same for REST and the bus: an embedding model takes no generation
/// parameters; a text-generation model continues exactly one input, with parameters in range, its
/// <c>max_output_tokens</c> the default <c>max_tokens</c>.
/// </summary>
public static class ModelTasks
{
    /// <summary>
    /// The parameters the request runs with (null for a model that does not generate), or why it cannot run.
    /// </summary>
    /// <param name="model">The model the request names.</param>
    /// <param name="inputs">How many inputs it holds.</param>
    /// <param name="parameters">Its generation parameters as given; null for none.</param>
    /// <param name="parametersField">The name of the parameters' object in the request (<c>parameters</c>), which prefixes
    /// a parameter's field; empty where they are members of the body itself (<c>/v1/completions</c>).</param>
    /// <param name="defaultMaxTokens">The <c>max_tokens</c> of a request without one, at most the model's own maximum;
    /// null for that maximum.</param>
    public static (GenerationParameters? Parameters, ModelRefusal? Refusal) Admit(IInferenceModel model, int inputs,
        GenerationParameters? parameters, string parametersField, int? defaultMaxTokens = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var descriptor = model.Descriptor;
        if (descriptor.Kind != ModelKind.TextGeneration)
        {
            return parameters is null
                ? (null, null)
                : (null, new ModelRefusal(ErrorCodes.ParametersNotSupported, parametersField.Length > 0 ? parametersField : "model",
                    $"{descriptor.Id} is an {descriptor.Task} model: it takes no generation parameters."));
        }

        if (inputs != 1)
        {
            return (null, new ModelRefusal(ErrorCodes.TooManyInputs, "input",
                $"{descriptor.Id} is a text-generation model: it continues exactly one input, and {inputs} were given."));
        }

        var maxOutputTokens = descriptor.MaxOutputTokens
            ?? throw new InvalidOperationException($"The text-generation model {descriptor.Id} has no max_output_tokens.");
        var (resolved, error) = GenerationRules.Resolve(parameters, maxOutputTokens, defaultMaxTokens ?? maxOutputTokens);
        if (error is not null)
        {
            var field = parametersField.Length > 0 ? $"{parametersField}.{error.Field}" : error.Field;
            return (null, new ModelRefusal(ErrorCodes.ParametersInvalid, field, error.Message));
        }

        return (resolved, null);
    }
}

/// <summary>Why a request cannot run on its model: a stable code, the field at fault and a sentence.</summary>
public sealed record ModelRefusal(string Code, string Field, string Message);
