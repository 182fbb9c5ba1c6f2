using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Server.Tests.Infrastructure;
using Inference.Server.Tests.Integration;

namespace Inference.Server.Tests.Worker;

/// <summary>
/// A text-generation model's requests: the parameters reach the model, the completion comes back with why it ended and
/// the tokens both ways, streamed in pieces when asked; a refused request fails alone, and a cancel stops the generation.
/// </summary>
public sealed class When_a_worker_runs_a_text_generation_model : IAsyncLifetime
{
    private readonly IsolatedServices _services = new();

    public Task InitializeAsync() => _services.InitializeAsync();

    public Task DisposeAsync() => _services.DisposeAsync();

    [Fact]
    public async Task Should_generate_with_the_requests_parameters_and_publish_the_text_finish_reason_and_usage()
    {
        var model = new FakeGenerationModel(FakeDescriptors.NewId("gen"), 8, maxOutputTokens: 32);
        await using var worker = new WorkerApp(_services, [model]);
        var published = await worker.ListenAsync();
        var run = WorkerApp.Run(model.Descriptor.Id, "once upon a time") with
        {
            Parameters = new GenerationParameters { MaxTokens = 3, Temperature = 0.5, TopP = 0.9, Seed = 7, Stop = ["\n", "w9"] },
        };

        await worker.SendAsync(ProtocolEndpoints.WorkerFor(model.Descriptor.Id), run);

        var success = await published.SucceededAsync(run.InferenceId);
        Assert.Equal(("w0 w1 w2", "length"), (success.Output.Text, success.Output.FinishReason));
        Assert.Null(success.Output.Embeddings);
        Assert.Equal((4, 3), (success.Usage.PromptTokens, success.Usage.CompletionTokens));
        var request = Assert.Single(model.Requests);
        Assert.Equal(("once upon a time", 3, 0.5f, 0.9f, 7L), (request.Prompt, request.MaxTokens, request.Temperature, request.TopP, request.Seed));
        Assert.Equal(["\n", "w9"], request.Stop);
        Assert.Null(request.OnText);
        Assert.Empty(published.Deltas);
    }

    [Fact]
    public async Task Should_use_the_models_defaults_for_parameters_not_given()
    {
        var model = new FakeGenerationModel(FakeDescriptors.NewId("gen"), 8, maxOutputTokens: 5);
        await using var worker = new WorkerApp(_services, [model]);
        var published = await worker.ListenAsync();
        var run = WorkerApp.Run(model.Descriptor.Id, "hello");

        await worker.SendAsync(ProtocolEndpoints.WorkerFor(model.Descriptor.Id), run);

        var success = await published.SucceededAsync(run.InferenceId);
        Assert.Equal(5, success.Usage.CompletionTokens);
        var request = Assert.Single(model.Requests);
        Assert.Equal((5, 1f, 1f, (long?)null), (request.MaxTokens, request.Temperature, request.TopP, request.Seed));
        Assert.Empty(request.Stop);
    }

    [Fact]
    public async Task Should_stream_pieces_in_order_gathered_into_few_messages_that_add_up_to_the_text()
    {
        var model = new FakeGenerationModel(FakeDescriptors.NewId("gen"), 8, maxOutputTokens: 64);
        await using var worker = new WorkerApp(_services, [model]);
        var published = await worker.ListenAsync();
        var run = WorkerApp.Run(model.Descriptor.Id, "count") with { Stream = true, Parameters = new() { MaxTokens = 40 } };

        await worker.SendAsync(ProtocolEndpoints.WorkerFor(model.Descriptor.Id), run);

        var success = await published.SucceededAsync(run.InferenceId);
        // Published before the success, but over another queue: they may be delivered to the listener after it.
        var deltas = await Poll.UntilAsync(
            () => Task.FromResult(published.Deltas.Where(d => d.InferenceId == run.InferenceId).OrderBy(d => d.Sequence).ToList()),
            pieces => string.Concat(pieces.Select(p => p.Text)) == success.Output.Text, "the pieces to add up to the text");
        Assert.Equal(Enumerable.Range(0, deltas.Count), deltas.Select(d => d.Sequence));
        // Forty words handed over in one burst: gathered, not one message per word.
        Assert.InRange(deltas.Count, 1, 3);
    }

    [Fact]
    public async Task Should_fail_only_the_request_the_model_refuses_at_once_with_the_models_reason()
    {
        var model = new FakeGenerationModel(FakeDescriptors.NewId("gen"), 8, maxOutputTokens: 4);
        await using var worker = new WorkerApp(_services, [model]);
        var published = await worker.ListenAsync();
        var refused = WorkerApp.Run(model.Descriptor.Id, "refuse");
        var fine = WorkerApp.Run(model.Descriptor.Id, "fine");
        var twoPrompts = WorkerApp.Run(model.Descriptor.Id, "one", "two");

        await worker.SendAsync(ProtocolEndpoints.WorkerFor(model.Descriptor.Id), refused);
        await worker.SendAsync(ProtocolEndpoints.WorkerFor(model.Descriptor.Id), fine);
        await worker.SendAsync(ProtocolEndpoints.WorkerFor(model.Descriptor.Id), twoPrompts);

        var fault = await published.FaultAsync(refused.InferenceId);
        Assert.Contains("temperature must be between 0 and 2", fault.Exceptions.Single().Message, StringComparison.Ordinal);
        var notOnePrompt = await published.FaultAsync(twoPrompts.InferenceId);
        Assert.Contains("exactly one input", notOnePrompt.Exceptions.Single().Message, StringComparison.Ordinal);
        await published.SucceededAsync(fine.InferenceId);
        // Never retried: a refusal does not get better.
        Assert.Single(model.Requests, r => r.Prompt == "refuse");
        Assert.DoesNotContain(published.Succeeded, s => s.InferenceId == refused.InferenceId || s.InferenceId == twoPrompts.InferenceId);
    }

    [Fact]
    public async Task Should_stop_a_generation_at_its_next_step_when_its_request_is_canceled()
    {
        var model = new FakeGenerationModel(FakeDescriptors.NewId("gen"), 8, maxOutputTokens: 10_000) { StepDelay = TimeSpan.FromMilliseconds(20) };
        var logs = new CapturedLogs();
        await using var worker = new WorkerApp(_services, [model], logs: logs);
        var published = await worker.ListenAsync();
        var run = WorkerApp.Run(model.Descriptor.Id, "go on forever") with { Stream = true };
        await worker.SendAsync(ProtocolEndpoints.WorkerFor(model.Descriptor.Id), run);
        await model.Stepping.Task.WaitAsync(Poll.Deadline);

        await worker.Bus.Publish(new InferenceCanceled
        {
            InferenceId = run.InferenceId, TenantId = "dev", Model = model.Descriptor.Id,
            Reason = new InferenceError { Code = "canceled", Message = "Canceled by the test." },
            SubmittedAt = DateTimeOffset.UtcNow, CanceledAt = DateTimeOffset.UtcNow,
        });

        await model.Stopped.Task.WaitAsync(Poll.Deadline);
        await Poll.UntilAsync(() => logs.Entries.Any(e => e.Message.Contains($"{run.InferenceId} was stopped", StringComparison.Ordinal)),
            "the worker to log the stop");
        Assert.DoesNotContain(published.Succeeded, s => s.InferenceId == run.InferenceId);
        Assert.Empty(published.Faults);
    }
}
