using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Inference.Contracts;
using Inference.Engine;
using Inference.Orchestration.Protocol;
using Inference.Server.Orchestration;
using Inference.Server.Tests.Infrastructure;
using MassTransit;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

/// <summary>
/// The embedded app serving, besides the bundled embedding model, a scripted text-generation model
/// (<see cref="ScriptedGenerator"/>): the API and the submission gate find it through <see cref="IServedModels"/>, and a
/// filter on the worker's endpoint runs its <see cref="RunInference"/> messages as a worker would (started, the pieces
/// when streamed, the success with the real usage). Everything else (saga, quota, result store, outcome events) is the
/// real thing.
/// </summary>
public class GenerationApp : EmbeddedApp
{
    public GenerationApp()
        : this(null)
    {
    }

    protected GenerationApp(IReadOnlyDictionary<string, string?>? settings)
        : base(settings)
    {
    }

    public ScriptedGenerator Generator { get; } = new();

    protected override WebApplicationFactory<Program> Customize(InferenceAppFactory factory) =>
        factory.WithWebHostBuilder(host => host.ConfigureTestServices(services =>
        {
            services.AddSingleton<IServedModels>(provider =>
                new ServedWithGenerator(new CatalogModels(provider.GetRequiredService<ModelCatalog>()), Generator));
            services.AddSingleton<IConfigureReceiveEndpoint>(new ScriptedGenerationWorker(Generator));
            // The saga sends each request to its model's queue; the worker serves only the catalogue's models, so the
            // scripted model's queue is opened here, and the filter above answers what arrives on it.
            services.AddSingleton<Inference.Server.Messaging.IBusEndpoints>(new ScriptedGeneratorQueue(Generator));
        }));

    private sealed class ScriptedGeneratorQueue(ScriptedGenerator generator) : Inference.Server.Messaging.IBusEndpoints
    {
        public void Configure(IBusRegistrationContext context, IReceiveConfigurator transport) =>
            transport.ReceiveEndpoint(ProtocolEndpoints.WorkerFor(ScriptedGenerator.Id), endpoint =>
            {
                endpoint.UseFilter(new ScriptedGenerationWorker(generator));
                endpoint.Handler<RunInference>(_ => throw new InvalidOperationException(
                    "The scripted generator's filter answers every RunInference on its queue."));
            });
    }

    private sealed class ServedWithGenerator(IServedModels served, ScriptedGenerator generator) : IServedModels
    {
        public IReadOnlyCollection<ModelDescriptor> Models => [.. served.Models, generator.Descriptor];

        public bool TryGet(string id, [NotNullWhen(true)] out IInferenceModel? model)
        {
            if (id == generator.Descriptor.Id)
            {
                model = generator;
                return true;
            }

            return served.TryGet(id, out model);
        }
    }
}

/// <summary>
/// A text-generation model whose output is known in advance: a token is a word of the prompt (white space apart), and
/// generation yields <see cref="Pieces"/> one token each, over and over, until <c>max_tokens</c> or a stop string. The
/// pieces hold what generated text can hold and stores often cannot: U+0000, control characters, a line separator,
/// quotes, a noncharacter, an emoji outside the BMP.
/// </summary>
public sealed class ScriptedGenerator : ITextGenerationModel
{
    public const string Id = "scripted-generator";
    public const int MaxInputTokens = 32;
    public const int MaxOutputTokens = 40;

    /// <summary>A prompt holding this word is generated only once <see cref="Release"/> is called for it.</summary>
    public const string HoldWord = "hold";

    /// <summary>A prompt holding this word loses its second piece on the way to the API (a gap in the sequence).</summary>
    public const string LoseWord = "lose";

    public static readonly string[] Pieces = ["Hello", ",", " world", "\0", "\u0001\u001f", "\u2028", "\r\n", "\"\\", "\uFFFE", " \U0001F600", "."];

    private readonly ConcurrentDictionary<string, TaskCompletionSource> _held = new();

    public ModelDescriptor Descriptor { get; } = new(Id, ModelKind.TextGeneration, MaxInputTokens, null, 8)
    {
        Published = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero),
        Publisher = "tests",
        Device = "cpu",
        MaxOutputTokens = MaxOutputTokens,
    };

    public bool IsLoaded => true;

    public int? EndOfSequenceTokenId => null;

    /// <summary>The prompts of the runs so far, with the parameters each ran with.</summary>
    public ConcurrentQueue<(string Prompt, GenerationParameters? Parameters)> Runs { get; } = new();

    /// <summary>The request that each prompt ran for, so that a spec finds its own request among others.</summary>
    public ConcurrentDictionary<string, Guid> RequestsByPrompt { get; } = new(StringComparer.Ordinal);

    /// <summary>The text <paramref name="maxTokens"/> tokens make, cut before the first stop string; its tokens and finish reason.</summary>
    public static (string Text, int Tokens, string FinishReason) Expected(int maxTokens, IReadOnlyList<string>? stop = null)
    {
        var text = "";
        for (var i = 0; i < maxTokens; i++)
        {
            text += Pieces[i % Pieces.Length];
            var cut = (stop ?? []).Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(x => x >= 0).DefaultIfEmpty(-1).Min();
            if (cut >= 0)
                return (text[..cut], i + 1, "stop");
        }

        return (text, maxTokens, "length");
    }

    public TokenCount CountTokens(IReadOnlyList<string> inputs)
    {
        var perInput = inputs.Select(Words).ToList();
        return new TokenCount(perInput, perInput.Sum(),
            [.. perInput.Select((count, i) => (count, i)).Where(x => x.count > MaxInputTokens).Select(x => x.i)],
            [.. perInput.Select((count, i) => (count, i)).Where(x => x.count == 0).Select(x => x.i)]);
    }

    public string? DecodeTokens(IReadOnlyList<int> tokenIds) => null;

    public Task WarmUpAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Release(string prompt) => _held.GetOrAdd(prompt, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public async Task<GenerationResult> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var startedAt = DateTimeOffset.UtcNow;
        if (request.Prompt.Split(' ').Contains(HoldWord))
            await _held.GetOrAdd(request.Prompt, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(cancellationToken);

        var (text, tokens, finish) = Expected(request.MaxTokens, request.Stop);
        var emitted = 0;
        for (var i = 0; i < tokens && emitted < text.Length; i++)
        {
            var piece = Pieces[i % Pieces.Length];
            var length = Math.Min(piece.Length, text.Length - emitted);
            request.OnText?.Invoke(text.Substring(emitted, length));
            emitted += length;
        }

        return new GenerationResult(text, finish == "stop" ? FinishReason.Stop : FinishReason.Length, Words(request.Prompt), tokens, startedAt);
    }

    private static int Words(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
}

/// <summary>
/// Runs <see cref="ScriptedGenerator"/>'s work as the worker would, in front of the real worker's consumer on whatever
/// endpoint receives <see cref="RunInference"/>; other models' work passes on to it.
/// </summary>
internal sealed class ScriptedGenerationWorker(ScriptedGenerator generator) : IConfigureReceiveEndpoint, IFilter<ConsumeContext>
{
    public void Configure(string name, IReceiveEndpointConfigurator configurator) => configurator.UseFilter(this);

    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        if (!context.TryGetMessage<RunInference>(out var run) || run.Message.Model != ScriptedGenerator.Id)
        {
            await next.Send(context);
            return;
        }

        var message = run.Message;
        generator.Runs.Enqueue((message.Inputs[0], message.Parameters));
        generator.RequestsByPrompt[message.Inputs[0]] = message.InferenceId;
        await context.Publish(new InferenceStarted { InferenceId = message.InferenceId, StartedAt = DateTimeOffset.UtcNow });

        var pieces = new List<string>();
        var result = await generator.GenerateAsync(new GenerationRequest
        {
            Prompt = message.Inputs[0],
            MaxTokens = message.Parameters?.MaxTokens ?? ScriptedGenerator.MaxOutputTokens,
            Stop = message.Parameters?.Stop ?? [],
            OnText = pieces.Add,
        }, context.CancellationToken);

        if (message.Stream)
        {
            var lose = message.Inputs[0].Split(' ').Contains(ScriptedGenerator.LoseWord);
            for (var i = 0; i < pieces.Count; i++)
            {
                if (!(lose && i == 1))
                    await context.Publish(new InferenceOutputDelta { InferenceId = message.InferenceId, Sequence = i, Text = pieces[i] });
            }
        }

        await context.Publish(new InferenceSucceeded
        {
            InferenceId = message.InferenceId,
            Output = new InferenceOutput { Text = result.Text, FinishReason = result.FinishReason == FinishReason.Stop ? "stop" : "length" },
            Usage = new InferenceUsage { PromptTokens = result.PromptTokens, CompletionTokens = result.CompletionTokens },
        });
        await context.NotifyConsumed(run, TimeSpan.Zero, nameof(ScriptedGenerationWorker));
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("scripted-generation");
}
