namespace Inference.Engine;

/// <summary>What a model produces, and so which interface its <see cref="IInferenceModel"/> also implements.</summary>
public enum ModelKind
{
    /// <summary>Maps each input text to a fixed-length vector; implements <see cref="IEmbeddingModel"/>.</summary>
    Embedding,

    /// <summary>Continues a prompt token by token; implements <see cref="ITextGenerationModel"/>.</summary>
    TextGeneration,
}
