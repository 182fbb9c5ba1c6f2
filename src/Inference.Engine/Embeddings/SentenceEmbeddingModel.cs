using System.Diagnostics;
using System.Threading.Channels;
using Inference.Engine.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Embeddings;

/// <summary>
/// A BERT-family sentence-transformer exported to ONNX (<c>input_ids</c>, <c>attention_mask</c>, and
/// <c>token_type_ids</c> when the export has it, to <c>last_hidden_state</c>): token embeddings are mean-pooled over the
/// real (unpadded) tokens and L2-normalised, as the sentence-transformers pipeline does.
/// </summary>
/// <remarks>
/// Concurrent <see cref="EmbedAsync"/> calls are batched together: their inputs go to one queue per model, and a single
/// loop takes up to <see cref="ModelDescriptor.MaxBatchSize"/> of them, waiting at most
/// <see cref="ModelDescriptor.MaxBatchDelay"/> after the oldest arrived, picks inputs of similar length so that little
/// is padded, and runs them in one ONNX Runtime call. Up to <see cref="ModelDescriptor.ConcurrentRuns"/> such calls run at
/// once, each on its own thread: on a CPU, two runs with half the threads each keep the cores busy where one run with all
/// of them leaves them idle at its serial steps and joins, and stalls whenever other work (the message bus) takes a
/// core from one of its threads. The loop gathers the next batch only once a run slot is free, so that it is as full as
/// the queue allows.
/// </remarks>
internal sealed partial class SentenceEmbeddingModel : IEmbeddingModel, IDisposable
{
    private const string InputIds = "input_ids";
    private const string AttentionMask = "attention_mask";
    private const string TokenTypeIds = "token_type_ids";
    private const string LastHiddenState = "last_hidden_state";

    // A batch this many times the usual size (in padded tokens) gives its arena memory back after the run, so one burst
    // of long inputs does not hold the peak for the life of the process.
    private const int ShrinkFactor = 4;
    private const long ShrinkFloor = 4_096;

    private readonly BertTokenizer _tokenizer;
    private readonly Func<InferenceSession> _createSession;
    private readonly Func<string> _device;
    private readonly ILogger _logger;
    private readonly TimeProvider _clock;
    private readonly int _vocabularySize;
    private readonly int _dimensions;
    private readonly int _specialTokensPerInput;
    private readonly Channel<QueuedInput> _queue = Channel.CreateUnbounded<QueuedInput>(new UnboundedChannelOptions { SingleReader = true });
    private readonly object _loopGate = new();
    private readonly SemaphoreSlim _runSlots;
    private readonly Lock _usualSizeGate = new();

    private readonly OnnxSessionSlot _sessions;
    private volatile ModelDescriptor _descriptor;
    private string[] _inputNames = [];
    private string _outputName = LastHiddenState;
    private volatile bool _disposed;
    private Task? _loop;
    private int _onnxCallsInProgress;
    private int _mostOnnxCallsAtOnce;
    private double _usualPaddedTokens;

    /// <param name="descriptor">An embedding descriptor; its dimensions must match the model's output.</param>
    /// <param name="tokenizer">The tokenizer the model was trained with.</param>
    /// <param name="vocabularySize">Tokens in the tokenizer's vocabulary: ids run from 0 to one less.</param>
    /// <param name="createSession">Loads the model; called once, on first use, under a lock.</param>
    /// <param name="device">The device the session got, read after it is created.</param>
    /// <param name="logger">For the model's own events.</param>
    /// <param name="clock">For <see cref="EmbeddingResult.StartedAt"/>.</param>
    public SentenceEmbeddingModel(ModelDescriptor descriptor, BertTokenizer tokenizer, int vocabularySize,
        Func<InferenceSession> createSession, Func<string> device, ILogger logger, TimeProvider? clock = null)
    {
        if (descriptor is not { Kind: ModelKind.Embedding, Dimensions: { } dimensions })
        {
            throw new ArgumentException("A sentence embedding model needs an embedding descriptor with dimensions.", nameof(descriptor));
        }

        _descriptor = descriptor;
        _tokenizer = tokenizer;
        _vocabularySize = vocabularySize;
        _createSession = createSession;
        _device = device;
        _logger = logger;
        _clock = clock ?? TimeProvider.System;
        _dimensions = dimensions;
        _specialTokensPerInput = Encode(string.Empty).Count;
        _runSlots = new SemaphoreSlim(descriptor.ConcurrentRuns, descriptor.ConcurrentRuns);
        _sessions = new OnnxSessionSlot(this);
    }

    /// <summary>The model's descriptor; its <see cref="ModelDescriptor.Device"/> is the session's once it is loaded.</summary>
    public ModelDescriptor Descriptor => _descriptor;

    public bool IsLoaded => _sessions.IsLoaded;

    /// <summary>Runs inside the model right now; observable so that tests can dispose mid-run.</summary>
    internal int RunsInProgress => _sessions.RunsInProgress;

    /// <summary>
    /// ONNX Runtime calls under way, counted once the call can be terminated; observable so that tests can cancel
    /// inside one rather than between batches.
    /// </summary>
    internal int OnnxCallsInProgress => Volatile.Read(ref _onnxCallsInProgress);

    /// <summary>The most ONNX Runtime calls that were under way at once so far; observable so that tests can check the run limit.</summary>
    internal int MostOnnxCallsAtOnce => Volatile.Read(ref _mostOnnxCallsAtOnce);

    public TokenCount CountTokens(IReadOnlyList<string> inputs) =>
        TokenCount.Of(inputs, input => Encode(input).Count, Descriptor.MaxInputTokens, _specialTokensPerInput);

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
        var tokenIds = Tokenize(inputs);
        if (tokenIds.Length == 0)
        {
            return new EmbeddingResult([], 0, _clock.GetUtcNow());
        }

        cancellationToken.ThrowIfCancellationRequested();
        var request = new PendingRequest(tokenIds, cancellationToken);
        EnsureLoop();
        var enqueuedAt = Stopwatch.GetTimestamp();
        for (var i = 0; i < tokenIds.Length; i++)
        {
            if (!_queue.Writer.TryWrite(new QueuedInput(request, i, enqueuedAt)))
            {
                throw new ObjectDisposedException(GetType().FullName);
            }
        }

        // A request canceled while queued leaves at once; its inputs are skipped when the loop reaches them. One canceled
        // while its batch runs gets no result, and its neighbours still get theirs.
        using var registration = cancellationToken.Register(static state => ((PendingRequest)state!).Cancel(), request);
        return await request.Completion.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="inputs"/> through the model in exactly one ONNX Runtime call, whatever their number, on the
    /// calling thread and outside the batching queue: what the raw benchmark measures, ONNX Runtime itself.
    /// </summary>
    /// <exception cref="ArgumentException">An input is longer than <see cref="ModelDescriptor.MaxInputTokens"/>.</exception>
    public async Task<EmbeddingResult> EmbedBatchDirectAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken)
    {
        var tokenIds = Tokenize(inputs);
        if (tokenIds.Length == 0)
        {
            return new EmbeddingResult([], 0, _clock.GetUtcNow());
        }

        var session = await GetSessionAsync(cancellationToken).ConfigureAwait(false);
        var startedAt = _clock.GetUtcNow();
        var stopwatch = Stopwatch.StartNew();
        float[][] embeddings;
        _sessions.EnterRun();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var runOptions = new RunOptions();
            using var cancellation = cancellationToken.Register(static state => ((RunOptions)state!).Terminate = true, runOptions);
            try
            {
                embeddings = Run(session, tokenIds, runOptions);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
        }
        finally
        {
            _sessions.ExitRun();
        }

        var promptTokens = tokenIds.Sum(ids => ids.Count);
        InferenceMetrics.Duration.Record(stopwatch.Elapsed.TotalSeconds, Tags());
        return new EmbeddingResult(embeddings, promptTokens, startedAt);
    }

    public void Dispose()
    {
        // No more requests; the loop fails what is still queued once it sees the disposal.
        _disposed = true;
        _queue.Writer.TryComplete();
        // Waits for a load and for runs in progress (a cancelled host's runs are terminated, so this is short).
        _sessions.Close();
    }

    /// <summary>The token ids fed to the model for <paramref name="text"/>, special tokens included.</summary>
    internal IReadOnlyList<int> Encode(string text) =>
        _tokenizer.EncodeToIds(text, addSpecialTokens: true, considerPreTokenization: true, considerNormalization: true);

    /// <summary>
    /// Chooses the inputs of the next batch from <paramref name="pending"/> (in arrival order) and removes them: all of
    /// them when they fit; otherwise <paramref name="maxBatchSize"/> inputs of similar length, always including the
    /// oldest, so that none waits forever, and padding as little as possible around it. The batch is then cut, if need
    /// be, to at most <paramref name="maxBatchTokens"/> padded tokens (inputs x the longest), dropping the inputs
    /// farthest in length from the oldest; it keeps at least the oldest.
    /// </summary>
    internal static List<T> TakeBatch<T>(List<T> pending, int maxBatchSize, Func<T, int> length, int maxBatchTokens = int.MaxValue)
    {
        var chosen = ChooseByLength(pending, maxBatchSize, length);
        var oldestLength = length(pending[0]);
        while (chosen.Count > 1 && (long)chosen.Count * chosen.Max(i => length(pending[i])) > maxBatchTokens)
        {
            // Never the oldest (index 0): among the farthest in length from it, the latest to arrive.
            var drop = chosen.Where(i => i != 0).OrderByDescending(i => Math.Abs(length(pending[i]) - oldestLength)).ThenByDescending(i => i).First();
            chosen.Remove(drop);
        }

        var batch = chosen.OrderBy(i => length(pending[i])).ThenBy(i => i).Select(i => pending[i]).ToList();
        var taken = new HashSet<int>(chosen);
        var keep = 0;
        for (var i = 0; i < pending.Count; i++)
        {
            if (!taken.Contains(i))
            {
                pending[keep++] = pending[i];
            }
        }

        pending.RemoveRange(keep, pending.Count - keep);
        return batch;
    }

    /// <summary>Indices into <paramref name="pending"/> of at most <paramref name="maxBatchSize"/> inputs, the oldest (0) among them, of lengths as close as can be.</summary>
    private static List<int> ChooseByLength<T>(List<T> pending, int maxBatchSize, Func<T, int> length)
    {
        if (pending.Count <= maxBatchSize)
        {
            return [.. Enumerable.Range(0, pending.Count)];
        }

        // Stable: equal lengths keep their arrival order.
        var byLength = Enumerable.Range(0, pending.Count).OrderBy(i => length(pending[i])).ToArray();
        var oldest = Array.IndexOf(byLength, 0);
        var lengths = byLength.Select(i => (long)length(pending[i])).ToArray();
        var bestStart = -1;
        var bestPadding = long.MaxValue;
        var first = Math.Max(0, oldest - maxBatchSize + 1);
        var last = Math.Min(oldest, pending.Count - maxBatchSize);
        for (var start = first; start <= last; start++)
        {
            long padding = 0;
            var longest = lengths[start + maxBatchSize - 1];
            for (var i = start; i < start + maxBatchSize; i++)
            {
                padding += longest - lengths[i];
            }

            if (padding < bestPadding)
            {
                (bestStart, bestPadding) = (start, padding);
            }
        }

        return [.. byLength.AsSpan(bestStart, maxBatchSize).ToArray()];
    }

    private IReadOnlyList<int>[] Tokenize(IReadOnlyList<string> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var tokenIds = new IReadOnlyList<int>[inputs.Count];
        for (var i = 0; i < inputs.Count; i++)
        {
            tokenIds[i] = Encode(inputs[i]);
            if (tokenIds[i].Count > Descriptor.MaxInputTokens)
            {
                throw new ArgumentException(
                    $"Input {i} has {tokenIds[i].Count} tokens; {Descriptor.Id} accepts at most {Descriptor.MaxInputTokens}.",
                    nameof(inputs));
            }
        }

        return tokenIds;
    }

    private void EnsureLoop()
    {
        if (Volatile.Read(ref _loop) is not null)
        {
            return;
        }

        lock (_loopGate)
        {
            // The loop blocks its thread for each ONNX Runtime call, like the callers it replaces used to.
            _loop ??= Task.Run(RunLoopAsync);
        }
    }

    private async Task RunLoopAsync()
    {
        var pending = new List<QueuedInput>();
        while (true)
        {
            try
            {
                if (!await RunNextBatchAsync(pending).ConfigureAwait(false))
                {
                    return;
                }
            }
#pragma warning disable CA1031 // The loop must outlive any failure, or later requests would wait forever: the failure fails what it held.
            catch (Exception exception)
#pragma warning restore CA1031
            {
                LogLoopFailed(_logger, Descriptor.Id, exception);
                foreach (var input in pending)
                {
                    input.Request.Fail(exception);
                }

                pending.Clear();
            }
        }
    }

    /// <summary>Gathers the next batch and runs it; false once the model is disposed and its queue is empty.</summary>
    private async Task<bool> RunNextBatchAsync(List<QueuedInput> pending)
    {
        Drain(pending);
        if (pending.Count == 0)
        {
            return await _queue.Reader.WaitToReadAsync().ConfigureAwait(false);
        }

        // A batch is gathered only for a free run slot: inputs that arrive while every slot is busy join it.
        await _runSlots.WaitAsync().ConfigureAwait(false);
        var dispatched = false;
        try
        {
            Drain(pending);
            dispatched = await GatherAndDispatchAsync(pending).ConfigureAwait(false);
        }
        finally
        {
            if (!dispatched)
            {
                _runSlots.Release();
            }
        }

        return true;
    }

    /// <summary>
    /// Waits for the batch to fill or its delay to pass, then starts its run off the loop (the slot is released when the
    /// run ends); false when there was nothing left to run.
    /// </summary>
    private async Task<bool> GatherAndDispatchAsync(List<QueuedInput> pending)
    {
        // Wait for more only until the oldest input has waited the delay; inputs that queued while the last batch ran
        // have waited already.
        var maxBatchSize = Descriptor.MaxBatchSize;
        var deadline = pending[0].EnqueuedAt + (long)(Descriptor.MaxBatchDelay.TotalSeconds * Stopwatch.Frequency);
        while (pending.Count < maxBatchSize && !_disposed)
        {
            var remaining = deadline - Stopwatch.GetTimestamp();
            if (remaining <= 0 || !await WaitForInputAsync(TimeSpan.FromSeconds((double)remaining / Stopwatch.Frequency)).ConfigureAwait(false))
            {
                break;
            }

            Drain(pending);
        }

        pending.RemoveAll(input => input.Request.IsDone);
        if (_disposed)
        {
            foreach (var input in pending)
            {
                input.Request.Fail(new ObjectDisposedException(GetType().FullName));
            }

            pending.Clear();
            return false;
        }

        if (pending.Count == 0)
        {
            return false;
        }

        var batch = TakeBatch(pending, maxBatchSize, input => input.Request.TokenIds[input.Index].Count, Descriptor.MaxBatchTokens);
        // Stamped here, on the loop's one thread: a request split over two concurrent runs gets the earlier start.
        var startedAt = _clock.GetUtcNow();
        var startedTimestamp = Stopwatch.GetTimestamp();
        foreach (var (request, _, _) in batch)
        {
            request.StartedAt ??= startedAt;
            request.StartedTimestamp ??= startedTimestamp;
        }

        _ = RunAndFreeSlotAsync(batch);
        return true;
    }

    /// <summary>Runs <paramref name="batch"/> on a pool thread and frees its run slot afterwards, whatever happened.</summary>
    private async Task RunAndFreeSlotAsync(List<QueuedInput> batch)
    {
        try
        {
            await Task.Run(() => RunQueuedBatchAsync(batch)).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A run's failure fails its requests, never the loop or the other runs.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            LogLoopFailed(_logger, Descriptor.Id, exception);
            foreach (var input in batch)
            {
                input.Request.Fail(exception);
            }
        }
        finally
        {
            _runSlots.Release();
        }
    }

    private async Task<bool> WaitForInputAsync(TimeSpan timeout)
    {
        using var timer = new CancellationTokenSource(timeout);
        try
        {
            return await _queue.Reader.WaitToReadAsync(timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested)
        {
            return false;
        }
    }

    private void Drain(List<QueuedInput> pending)
    {
        while (_queue.Reader.TryRead(out var input))
        {
            if (!input.Request.IsDone)
            {
                pending.Add(input);
            }
        }
    }

    private async Task RunQueuedBatchAsync(List<QueuedInput> batch)
    {
        InferenceSession session;
        try
        {
            session = await GetSessionAsync(CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A model that cannot load fails the requests that wanted it, and the next batch tries again.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            foreach (var input in batch)
            {
                input.Request.Fail(exception);
            }

            return;
        }

        var requests = batch.Select(input => input.Request).Distinct().ToArray();
        var tokenIds = batch.Select(input => input.Request.TokenIds[input.Index]).ToArray();
        float[][] embeddings;
        _sessions.EnterRun();
        try
        {
            if (_disposed)
            {
                foreach (var request in requests)
                {
                    request.Fail(new ObjectDisposedException(GetType().FullName));
                }

                return;
            }

            using var runOptions = new RunOptions();
            // The run stops early only when every request in it is canceled; one canceled among others still runs, and
            // its rows are dropped.
            var live = new LiveRequests(requests.Length, runOptions);
            var registrations = requests.Select(request => request.CancellationToken.Register(static state => ((LiveRequests)state!).Leave(), live)).ToArray();
            try
            {
                var runStarted = Stopwatch.GetTimestamp();
                embeddings = Run(session, tokenIds, runOptions);
                LogBatch(_logger, Descriptor.Id, batch.Count, requests.Length, (long)Stopwatch.GetElapsedTime(runStarted).TotalMilliseconds);
            }
            catch (OnnxRuntimeException) when (live.AllLeft)
            {
                return;
            }
#pragma warning disable CA1031 // A run that fails fails the requests in it, never the loop that serves the others.
            catch (Exception exception)
#pragma warning restore CA1031
            {
                foreach (var request in requests)
                {
                    request.Fail(exception);
                }

                return;
            }
            finally
            {
                foreach (var registration in registrations)
                {
                    registration.Dispose();
                }
            }
        }
        finally
        {
            _sessions.ExitRun();
        }

        var now = Stopwatch.GetTimestamp();
        for (var row = 0; row < batch.Count; row++)
        {
            var (request, index, _) = batch[row];
            request.Embeddings[index] = embeddings[row];
            if (request.Embedded() && request.Complete())
            {
                InferenceMetrics.Duration.Record(Stopwatch.GetElapsedTime(request.StartedTimestamp!.Value, now).TotalSeconds, Tags());
            }
        }
    }

    /// <summary>Runs <paramref name="tokenIds"/> as one batch, padded to the longest, and pools each row.</summary>
    private float[][] Run(InferenceSession session, IReadOnlyList<int>[] tokenIds, RunOptions runOptions)
    {
        var rows = tokenIds.Length;
        var sequenceLength = tokenIds.Max(ids => ids.Count);
        var ids = new long[rows * sequenceLength];
        var attentionMask = new long[ids.Length];
        var realTokens = 0L;
        for (var row = 0; row < rows; row++)
        {
            var rowIds = tokenIds[row];
            var rowStart = row * sequenceLength;
            realTokens += rowIds.Count;
            for (var position = 0; position < rowIds.Count; position++)
            {
                ids[rowStart + position] = rowIds[position];
                attentionMask[rowStart + position] = 1;
            }
        }

        // A batch much larger than usual gives its arena memory back afterwards instead of keeping the peak.
        var paddedTokens = (long)ids.Length;
        bool shrink;
        lock (_usualSizeGate)
        {
            shrink = paddedTokens > ShrinkFloor && paddedTokens > ShrinkFactor * _usualPaddedTokens;
            _usualPaddedTokens = _usualPaddedTokens == 0 ? paddedTokens : (0.9 * _usualPaddedTokens) + (0.1 * paddedTokens);
        }

        if (shrink)
        {
            runOptions.AddRunConfigEntry("memory.enable_memory_arena_shrinkage", Descriptor.Device == "cuda" ? "cpu:0;gpu:0" : "cpu:0");
        }

        long[] inputShape = [rows, sequenceLength];
        // The output buffer is ours, so ORT writes into it and nothing is copied out afterwards.
        var hiddenStates = new float[ids.Length * _dimensions];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, inputShape);
        using var attentionMaskValue = OrtValue.CreateTensorValueFromMemory(attentionMask, inputShape);
        // One segment only: token type 0 throughout.
        using var tokenTypeIdsValue = _inputNames.Length == 3 ? OrtValue.CreateTensorValueFromMemory(new long[ids.Length], inputShape) : null;
        using var hiddenStatesValue = OrtValue.CreateTensorValueFromMemory(hiddenStates, [rows, sequenceLength, _dimensions]);
        OrtValue[] inputs = tokenTypeIdsValue is null ? [idsValue, attentionMaskValue] : [idsValue, attentionMaskValue, tokenTypeIdsValue];
        var calls = Interlocked.Increment(ref _onnxCallsInProgress);
        for (var most = Volatile.Read(ref _mostOnnxCallsAtOnce); calls > most; most = Volatile.Read(ref _mostOnnxCallsAtOnce))
        {
            Interlocked.CompareExchange(ref _mostOnnxCallsAtOnce, calls, most);
        }

        try
        {
            session.Run(runOptions, _inputNames, inputs, [_outputName], [hiddenStatesValue]);
        }
        finally
        {
            Interlocked.Decrement(ref _onnxCallsInProgress);
        }

        var tags = Tags();
        InferenceMetrics.BatchSize.Record(rows, tags);
        InferenceMetrics.TokensProcessed.Add(realTokens, [.. tags, new("type", "prompt")]);

        var embeddings = new float[rows][];
        for (var row = 0; row < rows; row++)
        {
            var rowStates = hiddenStates.AsSpan(row * sequenceLength * _dimensions, sequenceLength * _dimensions);
            embeddings[row] = MeanPoolAndNormalize(rowStates, tokenIds[row].Count);
        }

        return embeddings;
    }

    private KeyValuePair<string, object?>[] Tags() => [new("model", Descriptor.Id), new("device", Descriptor.Device)];

    private ValueTask<InferenceSession> GetSessionAsync(CancellationToken cancellationToken) =>
        _sessions.GetAsync(LoadSession, cancellationToken);

    private InferenceSession LoadSession()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var session = _createSession();
        try
        {
            var inputs = session.InputMetadata;
            if (!inputs.ContainsKey(InputIds) || !inputs.ContainsKey(AttentionMask))
            {
                throw new InvalidDataException(
                    $"Model {Descriptor.Id} has inputs [{string.Join(", ", inputs.Keys)}]; a BERT-family embedding model takes {InputIds} and {AttentionMask} (and {TokenTypeIds} if it was exported with them).");
            }

            _inputNames = inputs.ContainsKey(TokenTypeIds) ? [InputIds, AttentionMask, TokenTypeIds] : [InputIds, AttentionMask];
            // Hugging Face's export names it last_hidden_state; other exports name their one token-level output otherwise.
            var output = session.OutputMetadata.TryGetValue(LastHiddenState, out var named)
                ? (LastHiddenState, named)
                : session.OutputMetadata.FirstOrDefault(entry => entry.Value.Dimensions.Length == 3) is { Key: not null } first
                    ? (first.Key, first.Value)
                    : (LastHiddenState, null);
            if (output.Item2?.Dimensions is not [_, _, var width] || width != _dimensions)
            {
                throw new InvalidDataException(
                    $"Model {Descriptor.Id} does not output {output.Item1} as [batch, sequence, {_dimensions}]: check 'dimensions' against the model.");
            }

            _outputName = output.Item1;
        }
        catch
        {
            session.Dispose();
            throw;
        }

        var device = _device();
        if (device != _descriptor.Device)
        {
            _descriptor = _descriptor with { Device = device };
        }

        return session;
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

    /// <summary>
    /// One line per queued run, at Debug: how full the batches a deployment gets are (the metric says it too, but a log
    /// is at hand where no metrics are collected, e.g. the inference benchmark's worker process).
    /// </summary>
    [LoggerMessage(Level = LogLevel.Debug, Message = "Batch of {ModelId}: {Inputs} inputs from {Requests} requests in one run of {Milliseconds} ms")]
    private static partial void LogBatch(ILogger logger, string modelId, int inputs, int requests, long milliseconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "The batching loop of {ModelId} failed; the requests it held have failed, and it goes on with the next")]
    private static partial void LogLoopFailed(ILogger logger, string modelId, Exception exception);

    /// <summary>One input of a request, waiting for a batch.</summary>
    private readonly record struct QueuedInput(PendingRequest Request, int Index, long EnqueuedAt);

    /// <summary>A caller of <see cref="EmbedAsync"/>: its inputs, the embeddings so far, and its result.</summary>
    private sealed class PendingRequest(IReadOnlyList<int>[] tokenIds, CancellationToken cancellationToken)
    {
        public IReadOnlyList<int>[] TokenIds { get; } = tokenIds;

        public float[][] Embeddings { get; } = new float[tokenIds.Length][];

        private int _remaining = tokenIds.Length;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public DateTimeOffset? StartedAt { get; set; }

        public long? StartedTimestamp { get; set; }

        // Asynchronous continuations: the caller's code never runs on the batching loop.
        public TaskCompletionSource<EmbeddingResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool IsDone => Completion.Task.IsCompleted;

        public void Cancel() => Completion.TrySetCanceled(CancellationToken);

        public void Fail(Exception exception) => Completion.TrySetException(exception);

        /// <summary>
        /// Counts one input as embedded (its vector already stored); true for the last. Its inputs may be in concurrent
        /// runs: the count is atomic, and the last run sees every vector stored before it.
        /// </summary>
        public bool Embedded() => Interlocked.Decrement(ref _remaining) == 0;

        public bool Complete() =>
            Completion.TrySetResult(new EmbeddingResult(Embeddings, TokenIds.Sum(ids => ids.Count), StartedAt!.Value));
    }

    /// <summary>Counts the requests of a run not yet canceled; the last to leave terminates the run.</summary>
    private sealed class LiveRequests(int count, RunOptions runOptions)
    {
        private int _count = count;

        public bool AllLeft => Volatile.Read(ref _count) <= 0;

        public void Leave()
        {
            if (Interlocked.Decrement(ref _count) == 0)
            {
                runOptions.Terminate = true;
            }
        }
    }
}
