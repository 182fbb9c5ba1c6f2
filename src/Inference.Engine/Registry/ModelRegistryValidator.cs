using Microsoft.Extensions.Options;

namespace Inference.Engine.Registry;

/// <summary>
/// Checks the <c>Models</c> section at start: ids, tasks, devices, tokenizer kinds, ranges, and that every file named
/// exists. What needs a file's contents (a tokenizer that does not parse, an end-of-sequence token it lacks) is checked
/// when the catalogue is built, also at start.
/// </summary>
internal sealed class ModelRegistryValidator : IValidateOptions<ModelRegistryOptions>
{
    public ValidateOptionsResult Validate(string? name, ModelRegistryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        // The Engine section only fills in defaults, which no check depends on; it is validated on its own.
        var (_, failures) = ModelRegistry.Resolve(new EngineOptions(), options.Models);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
