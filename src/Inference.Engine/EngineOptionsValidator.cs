using Microsoft.Extensions.Options;

namespace Inference.Engine;

/// <summary>Checks <see cref="EngineOptions"/>' data annotations; generated at compile time, no reflection at start.</summary>
[OptionsValidator]
internal sealed partial class EngineOptionsValidator : IValidateOptions<EngineOptions>;
