using System.Text.Json;
using Inference.Contracts;
using MassTransit;
using MassTransit.Serialization;

namespace Inference.Integrators.Example;

/// <summary>
/// The rule for changing a contract: add optional fields, never remove, rename or retype one. These specs show what makes
/// that safe with MassTransit's System.Text.Json serializer: an unknown field is ignored, and a missing optional one is
/// null. The messages of the other versions are stand-ins below, bound to the same message type by their URN.
/// </summary>
public sealed class When_the_contracts_gain_an_optional_field : HarnessSpec
{
    public When_the_contracts_gain_an_optional_field()
        : base(options => options.ConfigureBus(bus => bus.AddConsumer<PreviousVersion.CompletedConsumer>()))
    {
    }

    [Fact]
    public void Should_read_an_event_of_a_newer_platform_ignoring_the_field_it_does_not_know()
    {
        var newer = new NextVersion.InferenceCompleted
        {
            InferenceId = NewId.NextGuid(),
            TenantId = Tenant,
            Model = Model,
            Usage = new InferenceUsage { PromptTokens = 6, CompletionTokens = 0 },
            Output = new InferenceOutput { Embeddings = [[0.6f, 0.8f]] },
            SubmittedAt = DateTimeOffset.UnixEpoch,
            CompletedAt = DateTimeOffset.UnixEpoch.AddSeconds(1),
            Region = "eu-west",
        };
        var json = JsonSerializer.Serialize(newer, SystemTextJsonMessageSerializer.Options);
        Assert.Equal("eu-west", JsonDocument.Parse(json).RootElement.GetProperty("region").GetString());

        var current = JsonSerializer.Deserialize<InferenceCompleted>(json, SystemTextJsonMessageSerializer.Options)!;

        Assert.Equal((newer.InferenceId, newer.TenantId, newer.Model, newer.Usage, newer.CompletedAt),
            (current.InferenceId, current.TenantId, current.Model, current.Usage, current.CompletedAt));
        Assert.Equal([0.6f, 0.8f], Assert.Single(current.Output.Embeddings!));
    }

    [Fact]
    public void Should_read_a_submission_of_an_older_integrator_that_lacks_the_optional_fields()
    {
        var older = new PreviousVersion.SubmitInference { InferenceId = NewId.NextGuid(), TenantId = Tenant, Model = Model, Inputs = ["hi"] };
        var json = JsonSerializer.Serialize(older, SystemTextJsonMessageSerializer.Options);

        var current = JsonSerializer.Deserialize<SubmitInference>(json, SystemTextJsonMessageSerializer.Options)!;

        Assert.Equal((older.InferenceId, Tenant, Model, null, null), (current.InferenceId, current.TenantId, current.Model, current.SubmittedAt, current.CancelAfter));
        Assert.Equal(["hi"], current.Inputs);
    }

    [Fact]
    public async Task Should_run_a_submission_that_carries_a_field_the_platform_does_not_know()
    {
        var id = NewId.NextGuid();
        var endpoint = await Harness.TestHarness.Bus.GetSendEndpoint(InferenceEndpoints.OrchestratorAddress);

        await endpoint.Send(new NextVersion.SubmitInference { InferenceId = id, TenantId = Tenant, Model = Model, Inputs = ["hi"], Priority = "high" });

        var outcome = await Harness.WaitForOutcomeAsync(id);
        Assert.Equal(InferenceStatusNames.Completed, outcome.Status);
    }

    [Fact]
    public async Task Should_deliver_todays_events_to_a_consumer_built_against_the_previous_contract()
    {
        var submission = Submission();

        await Harness.SendAsync(submission);
        await Harness.WaitForOutcomeAsync(submission.InferenceId);

        Assert.True(await Harness.TestHarness.Consumed.Any<PreviousVersion.InferenceCompleted>(x => x.Context.Message.InferenceId == submission.InferenceId));
        var received = Harness.TestHarness.Consumed.Select<PreviousVersion.InferenceCompleted>().Single().Context.Message;
        Assert.Equal((Tenant, Model, 9), (received.TenantId, received.Model, received.Usage.TotalTokens));
    }
}

/// <summary>The contracts as a platform one version ahead has them: each message gained an optional field.</summary>
public static class NextVersion
{
    [MessageUrn("Inference.Contracts:SubmitInference")]
    public sealed record SubmitInference
    {
        public required Guid InferenceId { get; init; }

        public required string TenantId { get; init; }

        public required string Model { get; init; }

        public required IReadOnlyList<string> Inputs { get; init; }

        public string? Priority { get; init; }
    }

    [MessageUrn("Inference.Contracts:InferenceCompleted")]
    public sealed record InferenceCompleted
    {
        public required Guid InferenceId { get; init; }

        public required string TenantId { get; init; }

        public required string Model { get; init; }

        public required InferenceUsage Usage { get; init; }

        public required InferenceOutput Output { get; init; }

        public required DateTimeOffset SubmittedAt { get; init; }

        public required DateTimeOffset CompletedAt { get; init; }

        public string? Region { get; init; }
    }
}

/// <summary>The contracts as an integrator one version behind has them: without the optional fields added since.</summary>
public static class PreviousVersion
{
    [MessageUrn("Inference.Contracts:SubmitInference")]
    public sealed record SubmitInference
    {
        public required Guid InferenceId { get; init; }

        public required string TenantId { get; init; }

        public required string Model { get; init; }

        public required IReadOnlyList<string> Inputs { get; init; }
    }

    [MessageUrn("Inference.Contracts:InferenceCompleted")]
    public sealed record InferenceCompleted
    {
        public required Guid InferenceId { get; init; }

        public required string TenantId { get; init; }

        public required string Model { get; init; }

        public required InferenceUsage Usage { get; init; }
    }

    /// <summary>An integrator's consumer of the outcome, built against the previous contract.</summary>
    public sealed class CompletedConsumer : IConsumer<InferenceCompleted>
    {
        public Task Consume(ConsumeContext<InferenceCompleted> context) => Task.CompletedTask;
    }
}
