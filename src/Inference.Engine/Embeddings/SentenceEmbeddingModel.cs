using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Embeddings;

/// <summary>
/// A BERT-family sentence-transformer exported to ONNX: token embeddings are mean-pooled over the real (unpadded)
/// tokens and L2-normalised, as the sentence-transformers pipeline does.
/// </summary>
internal sealed class SentenceEmbeddingModel : IEmbeddingModel, IDisposable
{
    // Names fixed by the Hugging Face BERT export.
    private static readonly string[] InputNames = ["input_ids", "attention_mask", "token_type_ids"];
    private static readonly string[] OutputNames = ["last_hidden_state"];

    private readonly BertTokenizer _tokenizer;
    private readonly Func<InferenceSession> _createSession;
    private readonly int _vocabularySize;
    private readonly int _dimensions;
    private readonly int _specialTokensPerInput;
    private readonly SemaphoreSlim _loadGate = new(1, 1);

    // Runs hold it shared, disposal exclusively: a session is never freed under a run that still uses it (ONNX
    // Runtime would crash the process). The runs are synchronous, so the lock's thread affinity holds.
    private readonly ReaderWriterLockSlim _lifetime = new();
    private volatile InferenceSession? _session;
    private bool _disposed;
    private int _onnxCallsInProgress;

    /// <param name="descriptor">An embedding descriptor; its dimensions must match the model's output.</param>
    /// <param name="tokenizer">The tokenizer the model was trained with.</param>
    /// <param name="vocabularySize">Tokens in the tokenizer's vocabulary: ids run from 0 to one less.</param>
    /// <param name="createSession">Loads the model; called once, on first use, under a lock.</param>
    public SentenceEmbeddingModel(ModelDescriptor descriptor, BertTokenizer tokenizer, int vocabularySize, Func<InferenceSession> createSession)
    {
        if (descriptor is not { Kind: ModelKind.Embedding, Dimensions: { } dimensions })
        {
            throw new ArgumentException("A sentence embedding model needs an embedding descriptor with dimensions.", nameof(descriptor));
        }

        Descriptor = descriptor;
        _tokenizer = tokenizer;
        _vocabularySize = vocabularySize;
        _createSession = createSession;
        _dimensions = dimensions;
        _specialTokensPerInput = Encode(string.Empty).Count;
    }

    public ModelDescriptor Descriptor { get; }

    public bool IsLoaded => _session is not null;

    /// <summary>Runs inside the model right now; observable so that tests can dispose mid-run.</summary>
    internal int RunsInProgress => _lifetime.CurrentReadCount;

    /// <summary>
    /// ONNX Runtime calls under way, counted once the call can be terminated; observable so that tests can cancel
    /// inside one rather than between batches.
    /// </summary>
    internal int OnnxCallsInProgress => Volatile.Read(ref _onnxCallsInProgress);

    public TokenCount CountTokens(IReadOnlyList<string> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var perInput = new int[inputs.Count];
        var tooLong = new List<int>();
        var empty = new List<int>();
        var total = 0;
        for (var i = 0; i < inputs.Count; i++)
        {
            var count = Encode(inputs[i]).Count;
            perInput[i] = count;
            total += count;
            if (count > Descriptor.MaxInputTokens)
            {
                tooLong.Add(i);
            }
            else if (count == _specialTokensPerInput)
            {
                empty.Add(i);
            }
        }

        return new TokenCount(perInput, total, tooLong, empty);
    }

    public string? DecodeTokens(IReadOnlyList<int> tokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenIds);
        foreach (var id in tokenIds)
        {
            if ((uint)id >= (uint)_vocabularySize)
            {
                return null;
            }
        }

        return _tokenizer.Decode(tokenIds, skipSpecialTokens: true);
    }

    public async Task WarmUpAsync(CancellationToken cancellationToken) =>
        await GetSessionAsync(cancellationToken).ConfigureAwait(false);

    public async Task<EmbeddingResult> EmbedAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ObjectDisposedException.ThrowIf(_disposed, this);

        var tokenIds = new IReadOnlyList<int>[inputs.Count];
        var promptTokens = 0;
        for (var i = 0; i < inputs.Count; i++)
        {
            tokenIds[i] = Encode(inputs[i]);
            if (tokenIds[i].Count > Descriptor.MaxInputTokens)
            {
                throw new ArgumentException(
                    $"Input {i} has {tokenIds[i].Count} tokens; {Descriptor.Id} accepts at most {Descriptor.MaxInputTokens}.",
                    nameof(inputs));
            }

            promptTokens += tokenIds[i].Count;
        }

        if (inputs.Count == 0)
        {
            return new EmbeddingResult([], 0);
        }

        var session = await GetSessionAsync(cancellationToken).ConfigureAwait(false);
        var embeddings = new float[inputs.Count][];
        // Inputs of similar length share a batch, so a short one is not padded up to the longest of the request.
        // Padding does not change results, only wastes work; the stable sort keeps runs reproducible.
        var byLength = Enumerable.Range(0, inputs.Count).OrderBy(i => tokenIds[i].Count).ToArray();
        _lifetime.EnterReadLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var batch in byLength.Chunk(Descriptor.MaxBatchSize))
            {
                cancellationToken.ThrowIfCancellationRequested();
                RunBatch(session, batch, tokenIds, embeddings, cancellationToken);
            }
        }
        finally
        {
            _lifetime.ExitReadLock();
        }

        return new EmbeddingResult(embeddings, promptTokens);
    }

    public void Dispose()
    {
        // Taking the gate lets a load in progress finish first, so the session it creates is disposed too; taking the
        // lifetime lock waits for runs in progress (a cancelled host's runs are terminated, so this is short).
        _loadGate.Wait();
        _lifetime.EnterWriteLock();
        try
        {
            _disposed = true;
            _session?.Dispose();
            _session = null;
        }
        finally
        {
            _lifetime.ExitWriteLock();
            _loadGate.Release();
        }
    }

    /// <summary>The token ids fed to the model for <paramref name="text"/>, special tokens included.</summary>
    internal IReadOnlyList<int> Encode(string text) =>
        _tokenizer.EncodeToIds(text, addSpecialTokens: true, considerPreTokenization: true, considerNormalization: true);

    private async ValueTask<InferenceSession> GetSessionAsync(CancellationToken cancellationToken)
    {
        if (_session is { } loaded)
        {
            return loaded;
        }

        await _loadGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _session ??= LoadSession();
        }
        finally
        {
            _loadGate.Release();
        }
    }

    private InferenceSession LoadSession()
    {
        var session = _createSession();
        var outputDimensions = session.OutputMetadata.TryGetValue(OutputNames[0], out var output) ? output.Dimensions : [];
        if (outputDimensions is not [_, _, var width] || width != _dimensions)
        {
            session.Dispose();
            throw new InvalidDataException(
                $"Model {Descriptor.Id} does not output {OutputNames[0]} as [batch, sequence, {_dimensions}].");
        }

        return session;
    }

    private void RunBatch(
        InferenceSession session,
        int[] batch,
        IReadOnlyList<int>[] tokenIds,
        float[][] embeddings,
        CancellationToken cancellationToken)
    {
        var sequenceLength = batch.Max(i => tokenIds[i].Count);
        var ids = new long[batch.Length * sequenceLength];
        var attentionMask = new long[ids.Length];
        // One segment only: token type 0 throughout.
        var tokenTypeIds = new long[ids.Length];
        for (var row = 0; row < batch.Length; row++)
        {
            var rowIds = tokenIds[batch[row]];
            var rowStart = row * sequenceLength;
            for (var position = 0; position < rowIds.Count; position++)
            {
                ids[rowStart + position] = rowIds[position];
                attentionMask[rowStart + position] = 1;
            }
        }

        long[] inputShape = [batch.Length, sequenceLength];
        // The output buffer is ours, so ORT writes into it and nothing is copied out afterwards.
        var hiddenStates = new float[ids.Length * _dimensions];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, inputShape);
        using var attentionMaskValue = OrtValue.CreateTensorValueFromMemory(attentionMask, inputShape);
        using var tokenTypeIdsValue = OrtValue.CreateTensorValueFromMemory(tokenTypeIds, inputShape);
        using var hiddenStatesValue = OrtValue.CreateTensorValueFromMemory(hiddenStates, [batch.Length, sequenceLength, _dimensions]);
        using var runOptions = new RunOptions();
        using var cancellation = cancellationToken.Register(static state => ((RunOptions)state!).Terminate = true, runOptions);
        Interlocked.Increment(ref _onnxCallsInProgress);
        try
        {
            session.Run(runOptions, InputNames, [idsValue, attentionMaskValue, tokenTypeIdsValue], OutputNames, [hiddenStatesValue]);
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _onnxCallsInProgress);
        }

        for (var row = 0; row < batch.Length; row++)
        {
            var rowStates = hiddenStates.AsSpan(row * sequenceLength * _dimensions, sequenceLength * _dimensions);
            embeddings[batch[row]] = MeanPoolAndNormalize(rowStates, tokenIds[batch[row]].Count);
        }
    }

    /// <summary>
    /// Averages the first <paramref name="tokenCount"/> token vectors of one row (padding is always at the end, so
    /// this is the attention-mask-weighted mean) and scales the result to unit length.
    /// </summary>
    private float[] MeanPoolAndNormalize(ReadOnlySpan<float> rowStates, int tokenCount)
    {
        var embedding = new float[_dimensions];
        for (var token = 0; token < tokenCount; token++)
        {
            var state = rowStates.Slice(token * _dimensions, _dimensions);
            for (var d = 0; d < _dimensions; d++)
            {
                embedding[d] += state[d];
            }
        }

        var sumOfSquares = 0f;
        for (var d = 0; d < _dimensions; d++)
        {
            embedding[d] /= tokenCount;
            sumOfSquares += embedding[d] * embedding[d];
        }

        // The same floor as sentence-transformers' Normalize layer, so a zero vector stays zero instead of NaN.
        var scale = 1f / MathF.Max(MathF.Sqrt(sumOfSquares), 1e-12f);
        for (var d = 0; d < _dimensions; d++)
        {
            embedding[d] *= scale;
        }

        return embedding;
    }
}
