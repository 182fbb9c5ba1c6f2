using Inference.Engine.Generation;
using Inference.Engine.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Registry;

/// <summary>Builds a registry entry's text-generation model: its descriptor, tokenizer and end-of-sequence id, then the model.</summary>
internal static class GenerationModelFactory
{
    /// <summary>What a <see cref="DecoderGenerationModel"/> is made of, before it is made: testable without a session.</summary>
    public sealed record Parts(ModelDescriptor Descriptor, Tokenizer Tokenizer, int? EndOfSequenceTokenId, OnnxSessionFactory Sessions, string Path);

    /// <exception cref="InvalidDataException">The tokenizer or the end-of-sequence token is not usable; the message names the entry and key.</exception>
    public static Parts Prepare(ModelSpec spec, ILoggerFactory loggerFactory)
    {
        var tokenizer = TokenizerFactory.Create(spec, loggerFactory.CreateLogger<DecoderGenerationModel>());
        var endOfSequence = TokenizerFactory.ResolveEndOfSequence(spec, tokenizer);
        var sessions = new OnnxSessionFactory(spec.Id, spec.Threads, spec.Device, loggerFactory.CreateLogger<OnnxSessionFactory>());
        var descriptor = new ModelDescriptor(spec.Id, ModelKind.TextGeneration, spec.MaxInputTokens, Dimensions: null, spec.MaxBatchSize)
        {
            Published = spec.Published ?? DateTimeOffset.UnixEpoch,
            Publisher = spec.Publisher ?? "unknown",
            Device = sessions.Device,
            MaxOutputTokens = spec.MaxOutputTokens,
            MaxBatchDelay = spec.MaxBatchDelay,
        };
        return new Parts(descriptor, tokenizer, endOfSequence, sessions, spec.Path!);
    }

    public static DecoderGenerationModel Create(Parts parts, ILoggerFactory loggerFactory) =>
        new(parts.Descriptor, parts.Tokenizer, parts.EndOfSequenceTokenId, () => parts.Sessions.Create(parts.Path),
            loggerFactory.CreateLogger<DecoderGenerationModel>());
}
