using Inference.Contracts;
using Inference.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Integrators.Example;

/// <summary>A spec on a fresh harness that knows the tenant <see cref="Tenant"/> and the model <see cref="Model"/>.</summary>
public abstract class HarnessSpec : IAsyncLifetime
{
    protected const string Tenant = "acme";
    protected const string Model = "all-minilm-l6-v2";

    private readonly ServiceProvider _provider;

    protected HarnessSpec(Action<InferenceTestHarnessOptions>? configure = null)
    {
        _provider = new ServiceCollection()
            .AddInferenceTestHarness(options =>
            {
                options.Tenant(Tenant);
                options.Model(Model);
                configure?.Invoke(options);
            })
            .BuildServiceProvider(validateScopes: true);
        Harness = _provider.GetInferenceTestHarness();
    }

    protected InferenceTestHarness Harness { get; }

    protected static SubmitInference Submission(params string[] inputs) => new()
    {
        InferenceId = NewId.NextGuid(),
        TenantId = Tenant,
        Model = Model,
        Inputs = inputs.Length == 0 ? ["A man is playing a guitar."] : inputs,
    };

    public Task InitializeAsync() => Harness.StartAsync();

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    /// <summary>Lets the bus go quiet, then checks the request published exactly one outcome.</summary>
    protected async Task<InferenceOutcome> SingleOutcome(Guid inferenceId)
    {
        await Harness.TestHarness.InactivityTask;
        return Assert.Single(Harness.Outcomes(inferenceId));
    }
}
