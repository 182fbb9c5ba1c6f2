using Inference.Engine.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;

namespace Inference.Engine.Generation;

/// <summary>
/// A decoder-only ONNX language model (<c>input_ids</c>, optionally <c>attention_mask</c>, <c>position_ids</c> and
/// Hugging Face Optimum's <c>past_key_values.*</c>/<c>present.*</c> cache) -> <c>logits</c>.
/// </summary>
/// <remarks>
/// <para>
/// Concurrent <see cref="GenerateAsync"/> calls are decoded together (step-level, or continuous, batching): one
/// scheduler loop per model runs one token step for every running sequence per model run. A new sequence joins between
/// steps: its prompt goes through the model in a run of its own with the other newcomers (the prefill), and from then on
/// it is decoded with the rest. When nothing runs, the loop waits up to <see cref="ModelDescriptor.MaxBatchDelay"/> for
/// company before the first step; at most <see cref="ModelDescriptor.MaxBatchSize"/> sequences run at once, the others
/// queue. A finished or canceled sequence leaves the batch at the next step.
/// </para>
/// <para>
/// Sequences of different lengths share a run left-padded, with <c>attention_mask</c> marking the padding and
/// <c>position_ids</c> computed from it as Hugging Face does (cumsum(mask) - 1, padding at 1). With a KV cache the
/// running sequences share one cache tensor per layer, each row left-padded to the longest; the cache a run returns is
/// fed to the next as is, and it is rebuilt (rows dropped or added, padding no row needs trimmed) only when the batch
/// changes. A model without a cache reruns each whole sequence every step. A model without <c>attention_mask</c> cannot
/// tell padding from tokens, and one without <c>position_ids</c> numbers positions itself, padding included, so that
/// padding would change its output: such a model only batches sequences of equal length (the others run in runs of
/// their own, still one token each per scheduler step).
/// </para>
/// </remarks>
internal sealed partial class DecoderGenerationModel : ITextGenerationModel, IDisposable
{
    private const int MaxStopStrings = 4;

    private readonly Tokenizer _tokenizer;
    private readonly Func<InferenceSession> _createSession;
    private readonly ILogger _logger;
    private readonly int _specialTokensPerInput;
    private readonly HashSet<int> _specialTokenIds;
    private readonly KeyValuePair<string, object?> _modelTag;

    private readonly OnnxSessionSlot _sessions;
    private readonly CancellationTokenSource _stopping = new();

    private readonly Lock _queueLock = new();
    private readonly Queue<Sequence> _queue = new();
    private readonly SemaphoreSlim _arrivals = new(0);

    // The scheduler loop's own state: no other thread touches it.
    private readonly List<Sequence> _running = [];
    private readonly List<Cohort> _cohorts = [];

    private DecoderLayout? _layout;
    private Task? _scheduler;
    private volatile bool _disposed;
    private int _vocabularySize;

    /// <param name="descriptor">A text-generation descriptor with <see cref="ModelDescriptor.MaxOutputTokens"/>.</param>
    /// <param name="tokenizer">The tokenizer the model was trained with.</param>
    /// <param name="endOfSequenceTokenId">The token that ends a sequence, or null.</param>
    /// <param name="createSession">Loads the model; called once, on first use, under a lock.</param>
    /// <param name="logger">For the model's own events.</param>
    public DecoderGenerationModel(ModelDescriptor descriptor, Tokenizer tokenizer, int? endOfSequenceTokenId,
        Func<InferenceSession> createSession, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (descriptor is not { Kind: ModelKind.TextGeneration, MaxOutputTokens: > 0 })
        {
            throw new ArgumentException("A decoder needs a text-generation descriptor with max output tokens.", nameof(descriptor));
        }

        Descriptor = descriptor;
        EndOfSequenceTokenId = endOfSequenceTokenId;
        _tokenizer = tokenizer;
        _createSession = createSession;
        _logger = logger;
        _specialTokensPerInput = Encode(string.Empty).Count;
        // Dropped from decoded ids: the end of sequence, and the tokenizer's own special tokens where it lists them.
        _specialTokenIds = tokenizer is TiktokenTokenizer tiktoken ? [.. tiktoken.SpecialTokens?.Values ?? []] : [];
        if (endOfSequenceTokenId is { } endOfSequence)
        {
            _specialTokenIds.Add(endOfSequence);
        }

        _modelTag = new KeyValuePair<string, object?>("model", descriptor.Id);
        _sessions = new OnnxSessionSlot(this);
    }

    public ModelDescriptor Descriptor { get; }

    public int? EndOfSequenceTokenId { get; }

    public bool IsLoaded => _sessions.IsLoaded;

    /// <summary>The clock of <see cref="GenerationResult.StartedAt"/>.</summary>
    internal TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Model runs under way right now; observable so that tests can dispose mid-run.</summary>
    internal int RunsInProgress => _sessions.RunsInProgress;

    public TokenCount CountTokens(IReadOnlyList<string> inputs) =>
        TokenCount.Of(inputs, input => Encode(input).Count, Descriptor.MaxInputTokens, _specialTokensPerInput);

    public string? DecodeTokens(IReadOnlyList<int> tokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenIds);
        var vocabularySize = Volatile.Read(ref _vocabularySize);
        foreach (var id in tokenIds)
        {
            if (id < 0 || (vocabularySize > 0 && id >= vocabularySize))
            {
                return null;
            }
        }

        try
        {
            return _tokenizer.Decode(tokenIds.Where(id => !_specialTokenIds.Contains(id)));
        }
        catch (Exception exception) when (exception is ArgumentException or KeyNotFoundException or InvalidOperationException)
        {
            // An id the tokenizer does not know.
            return null;
        }
    }

    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        var session = await GetSessionAsync(cancellationToken).ConfigureAwait(false);
        _sessions.EnterRun();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // One token through the model, so that ONNX Runtime's first-run allocations are not the first request's.
            using var outputs = RunModel(session, 1, 1, 0, [0], [1], [0], null);
        }
        finally
        {
            _sessions.ExitRun();
        }
    }

    public async Task<GenerationResult> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        Validate(request);
        var prompt = Encode(request.Prompt);
        if (prompt.Count <= _specialTokensPerInput)
        {
            throw new ArgumentException("The prompt is empty: it has no token to continue.", nameof(request));
        }

        if (prompt.Count > Descriptor.MaxInputTokens)
        {
            throw new ArgumentException(
                $"The prompt has {prompt.Count} tokens; {Descriptor.Id} accepts at most {Descriptor.MaxInputTokens}.", nameof(request));
        }

        cancellationToken.ThrowIfCancellationRequested();
        await GetSessionAsync(cancellationToken).ConfigureAwait(false);
        if (_layout!.MaxLength is { } maxLength && prompt.Count + request.MaxTokens > maxLength)
        {
            throw new ArgumentException(
                $"The prompt's {prompt.Count} tokens and max_tokens {request.MaxTokens} exceed the {maxLength} tokens {Descriptor.Id} takes.",
                nameof(request));
        }

        var sequence = new Sequence(request, prompt, new TextAssembler(_tokenizer, request.Stop, request.OnText), cancellationToken);
        lock (_queueLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _queue.Enqueue(sequence);
            _scheduler ??= Task.Run(ScheduleAsync);
        }

        _arrivals.Release();
        return await sequence.Completion.Task.ConfigureAwait(false);
    }

    public void Dispose()
    {
        lock (_queueLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        // Terminates a run in progress and ends the loop, which fails every sequence it still holds.
        _stopping.Cancel();
        // Waits for a load and for the run in progress, terminated just above, so this is short.
        _sessions.Close();

        if (_scheduler is null)
        {
            FailQueued(new ObjectDisposedException(GetType().FullName));
        }
    }

    private void Validate(GenerationRequest request)
    {
        var maxOutputTokens = Descriptor.MaxOutputTokens!.Value;
        if (request.MaxTokens < 1 || request.MaxTokens > maxOutputTokens)
        {
            throw new ArgumentException($"max_tokens must be between 1 and {maxOutputTokens} for {Descriptor.Id}.", nameof(request));
        }

        if (!(request.Temperature >= 0f && request.Temperature <= 2f))
        {
            throw new ArgumentException("temperature must be between 0 and 2.", nameof(request));
        }

        if (!(request.TopP > 0f && request.TopP <= 1f))
        {
            throw new ArgumentException("top_p must be greater than 0 and at most 1.", nameof(request));
        }

        if (request.Stop is null || request.Stop.Count > MaxStopStrings || request.Stop.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException($"stop takes at most {MaxStopStrings} strings, none of them empty.", nameof(request));
        }
    }

    private IReadOnlyList<int> Encode(string text) => _tokenizer.EncodeToIds(text);

    private ValueTask<InferenceSession> GetSessionAsync(CancellationToken cancellationToken) =>
        _sessions.GetAsync(LoadSession, cancellationToken);

    /// <summary>Opens the session and reads its layout; called once, under the slot's gate.</summary>
    private InferenceSession LoadSession()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var session = _createSession();
        try
        {
            _layout = DecoderLayout.Read(session, Descriptor.Id);
            var vocabulary = session.OutputMetadata[DecoderLayout.Logits].Dimensions[2];
            Volatile.Write(ref _vocabularySize, Math.Max(vocabulary, 0));
        }
        catch
        {
            session.Dispose();
            throw;
        }

        LogLoaded(_logger, Descriptor.Id, _layout.HasCache, _layout.HasAttentionMask, _layout.PastNames.Length / 2);
        return session;
    }

    private async Task ScheduleAsync()
    {
        var stopping = _stopping.Token;
        // Admitted but not yet handed to a cohort: failed with the rest if the step never takes them.
        List<Sequence> newcomers = [];
        try
        {
            while (true)
            {
                if (RunningCount() == 0)
                {
                    await WaitForWorkAsync(stopping).ConfigureAwait(false);
                }

                newcomers = Admit();
                if (newcomers.Count == 0 && RunningCount() == 0)
                {
                    continue;
                }

                try
                {
                    Step(newcomers);
                }
                catch (Exception exception) when (!stopping.IsCancellationRequested && exception is not ObjectDisposedException)
                {
                    // A failure outside one run's handling: the loop's state can no longer be trusted, so every sequence
                    // it holds fails, and the loop goes on with the next ones.
                    LogStepFailed(_logger, Descriptor.Id, exception);
                    Fail(newcomers, exception);
                    FailRunning(exception);
                }
            }
        }
        catch (Exception exception) when (stopping.IsCancellationRequested || exception is ObjectDisposedException)
        {
            // Disposed: the finally fails whatever is left.
        }
        finally
        {
            var disposed = new ObjectDisposedException(GetType().FullName);
            Fail(newcomers, disposed);
            FailRunning(disposed);
            FailQueued(disposed);
        }
    }

    private async Task WaitForWorkAsync(CancellationToken cancellationToken)
    {
        while (QueuedCount() == 0)
        {
            await _arrivals.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var delay = Descriptor.MaxBatchDelay;
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        var start = TimeProvider.GetTimestamp();
        while (QueuedCount() < Descriptor.MaxBatchSize)
        {
            var remaining = delay - TimeProvider.GetElapsedTime(start);
            if (remaining <= TimeSpan.Zero || !await _arrivals.WaitAsync(remaining, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private int QueuedCount()
    {
        lock (_queueLock)
        {
            return _queue.Count;
        }
    }

    private int RunningCount() => _running.Count + _cohorts.Sum(c => c.Rows.Count);

    private List<Sequence> Admit()
    {
        var room = Descriptor.MaxBatchSize - RunningCount();
        var admitted = new List<Sequence>();
        lock (_queueLock)
        {
            while (admitted.Count < room && _queue.TryDequeue(out var sequence))
            {
                if (!sequence.IsDone)
                {
                    admitted.Add(sequence);
                }
            }
        }

        return admitted;
    }

    /// <summary>
    /// One scheduler step: the newcomers' prefill, then one token for every sequence that was already running; then the
    /// batch is compacted for the next step (finished and canceled sequences leave, newcomers merge in).
    /// </summary>
    private void Step(List<Sequence> newcomers)
    {
        _sessions.EnterRun();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var session = _sessions.Session!;
            var layout = _layout!;
            if (!layout.HasCache)
            {
                _running.RemoveAll(s => s.IsDone);
                _running.AddRange(newcomers);
                var groups = layout.CanPad
                    ? [_running.ToList()]
                    : _running.GroupBy(s => s.Tokens.Count).Select(g => g.ToList()).ToList();
                foreach (var group in groups.Where(g => g.Count > 0))
                {
                    using var cohort = new Cohort(group);
                    Run(session, layout, cohort);
                }

                _running.RemoveAll(s => s.IsDone);
                return;
            }

            // Sequences canceled since the last step leave before this one.
            Compact(layout);
            var prefilled = new List<Cohort>();
            var newGroups = layout.CanPad
                ? (newcomers.Count > 0 ? [newcomers] : [])
                : newcomers.GroupBy(s => s.Tokens.Count).Select(g => g.ToList()).ToList();
            try
            {
                foreach (var group in newGroups)
                {
                    var cohort = new Cohort(group);
                    prefilled.Add(cohort);
                    Run(session, layout, cohort);
                }

                foreach (var cohort in _cohorts)
                {
                    if (cohort.Rows.Any(s => !s.IsDone))
                    {
                        Run(session, layout, cohort);
                    }
                }
            }
            finally
            {
                // Whatever happens, the newcomers are the loop's from now on: they finish or fail with the rest.
                _cohorts.AddRange(prefilled);
            }

            Compact(layout);
        }
        finally
        {
            _sessions.ExitRun();
        }
    }

    /// <summary>
    /// Drops finished and canceled rows from the cohorts and merges cohorts that can share a run: all of them when the
    /// model can be fed padding (<see cref="DecoderLayout.CanPad"/>), those with caches of the same length otherwise.
    /// </summary>
    private void Compact(DecoderLayout layout)
    {
        var groups = layout.CanPad
            ? [_cohorts.ToList()]
            : _cohorts.GroupBy(c => c.PastLength).Select(g => g.ToList()).ToList();
        var compacted = new List<Cohort>();
        foreach (var group in groups)
        {
            var rows = group.SelectMany(c => c.Rows.Select((s, i) => (Source: c, Row: i, s.IsDone))).Where(r => !r.IsDone).ToList();
            if (group.Count == 1 && rows.Count == group[0].Rows.Count)
            {
                compacted.Add(group[0]);
                continue;
            }

            if (rows.Count > 0)
            {
                compacted.Add(Cohort.Gather(rows.Select(r => (r.Source, r.Row)).ToList(), layout));
            }

            foreach (var cohort in group)
            {
                cohort.Dispose();
            }
        }

        _cohorts.Clear();
        _cohorts.AddRange(compacted);
    }

    /// <summary>
    /// Runs <paramref name="cohort"/> through the model once: every row's tokens not in the cache yet (all its tokens
    /// without a cache), left-padded to the longest, then one token picked for each row.
    /// </summary>
    private void Run(InferenceSession session, DecoderLayout layout, Cohort cohort)
    {
        var rows = cohort.Rows;
        var batch = rows.Count;
        var past = cohort.PastLength;
        var length = 0;
        foreach (var row in rows)
        {
            length = Math.Max(length, layout.HasCache ? row.Tokens.Count - row.Cached : row.Tokens.Count);
        }

        var total = past + length;
        var ids = new long[batch * length];
        var positions = new long[batch * length];
        var mask = new long[batch * total];
        for (var r = 0; r < batch; r++)
        {
            var row = rows[r];
            var before = layout.HasCache ? row.Cached : 0;
            var fed = row.Tokens.Count - before;
            var padding = length - fed;
            cohort.Mask.AsSpan(r * past, past).CopyTo(mask.AsSpan(r * total));
            for (var j = 0; j < length; j++)
            {
                if (j < padding)
                {
                    // Hugging Face's position for padding; the mask hides it anyway.
                    positions[(r * length) + j] = 1;
                    continue;
                }

                ids[(r * length) + j] = row.Tokens[before + j - padding];
                positions[(r * length) + j] = before + j - padding;
                mask[(r * total) + past + j] = 1;
            }
        }

        var now = TimeProvider.GetUtcNow();
        var timestamp = TimeProvider.GetTimestamp();
        var promptTokens = 0;
        foreach (var row in rows)
        {
            if (!row.Started)
            {
                row.Start(now, timestamp);
                promptTokens += row.PromptLength;
            }
        }

        InferenceMetrics.BatchSize.Record(batch, _modelTag);
        if (promptTokens > 0)
        {
            InferenceMetrics.TokensProcessed.Add(promptTokens, new KeyValuePair<string, object?>("type", "prompt"), _modelTag);
        }

        IDisposableReadOnlyCollection<OrtValue> outputs;
        try
        {
            outputs = RunModel(session, batch, length, past, ids, mask, positions, cohort.Past);
        }
        catch (Exception exception) when (!_stopping.IsCancellationRequested && exception is OnnxRuntimeException)
        {
            // A failed run fails its own rows only; the cohort's cache is stale now, so they cannot go on anyway.
            LogRunFailed(_logger, Descriptor.Id, batch, exception);
            foreach (var row in rows)
            {
                row.Fail(exception);
            }

            return;
        }

        var logits = outputs[0];
        var vocabulary = (int)logits.GetTensorTypeAndShape().Shape[2];
        var generated = 0;
        var allLogits = logits.GetTensorDataAsSpan<float>();
        for (var r = 0; r < batch; r++)
        {
            if (!rows[r].IsDone)
            {
                generated++;
                Advance(rows[r], allLogits.Slice(((r * length) + length - 1) * vocabulary, vocabulary));
            }
        }

        InferenceMetrics.TokensProcessed.Add(generated, new KeyValuePair<string, object?>("type", "completion"), _modelTag);
        if (layout.HasCache)
        {
            // The run's cache becomes the next run's input as it is: no copy. The logits go now; the rest with the cache.
            logits.Dispose();
            cohort.ReplacePast(outputs, outputs.Skip(1).ToArray(), total, mask);
            foreach (var row in rows)
            {
                // The token just picked is the one not in the cache yet.
                row.Cached = row.Tokens.Count - 1;
            }
        }
        else
        {
            outputs.Dispose();
        }
    }

    private IDisposableReadOnlyCollection<OrtValue> RunModel(
        InferenceSession session, int batch, int length, int past, long[] ids, long[] mask, long[] positions, OrtValue[]? pastValues)
    {
        var layout = _layout!;
        var names = new List<string>(4 + layout.PastNames.Length) { DecoderLayout.InputIds };
        var owned = new List<OrtValue> { OrtValue.CreateTensorValueFromMemory(ids, [batch, length]) };
        try
        {
            if (layout.HasAttentionMask)
            {
                names.Add(DecoderLayout.AttentionMask);
                owned.Add(OrtValue.CreateTensorValueFromMemory(mask, [batch, past + length]));
            }

            if (layout.HasPositionIds)
            {
                names.Add(DecoderLayout.PositionIds);
                owned.Add(OrtValue.CreateTensorValueFromMemory(positions, [batch, length]));
            }

            if (layout.HasUseCacheBranch)
            {
                names.Add(DecoderLayout.UseCacheBranch);
                owned.Add(OrtValue.CreateTensorValueFromMemory(new[] { past > 0 }, [1]));
            }

            var values = new List<OrtValue>(owned);
            for (var i = 0; i < layout.PastNames.Length; i++)
            {
                names.Add(layout.PastNames[i]);
                if (pastValues is not null)
                {
                    values.Add(pastValues[i]);
                }
                else
                {
                    var empty = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [batch, layout.Heads, 0, layout.HeadSize]);
                    owned.Add(empty);
                    values.Add(empty);
                }
            }

            using var runOptions = new RunOptions();
            using var termination = _stopping.Token.Register(static state => ((RunOptions)state!).Terminate = true, runOptions);
            try
            {
                return session.Run(runOptions, names, values, [DecoderLayout.Logits, .. layout.PresentNames]);
            }
            catch (OnnxRuntimeException) when (_stopping.IsCancellationRequested)
            {
                throw new OperationCanceledException(_stopping.Token);
            }
        }
        finally
        {
            foreach (var value in owned)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>Picks <paramref name="row"/>'s next token and ends the sequence when it should end.</summary>
    private void Advance(Sequence row, ReadOnlySpan<float> logits)
    {
        try
        {
            var token = row.Sampler.Next(logits);
            row.Tokens.Add(token);
            row.Generated++;
            if (token == EndOfSequenceTokenId)
            {
                row.Text.Finish();
                Complete(row, FinishReason.Stop);
            }
            else if (row.Text.Add(token))
            {
                Complete(row, FinishReason.Stop);
            }
            else if (row.Generated >= row.Request.MaxTokens)
            {
                row.Text.Finish();
                Complete(row, row.Text.Stopped ? FinishReason.Stop : FinishReason.Length);
            }
        }
#pragma warning disable CA1031 // The caller's OnText threw: its own sequence fails, never the batch.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            row.Fail(exception);
        }
    }

    private void Complete(Sequence row, FinishReason reason)
    {
        var result = new GenerationResult(row.Text.Text, reason, row.PromptLength, row.Generated, row.StartedAt);
        InferenceMetrics.Duration.Record(TimeProvider.GetElapsedTime(row.StartTimestamp).TotalSeconds, _modelTag);
        row.Succeed(result);
    }

    private static void Fail(List<Sequence> sequences, Exception exception)
    {
        foreach (var sequence in sequences)
        {
            sequence.Fail(exception);
        }
    }

    private void FailRunning(Exception exception)
    {
        foreach (var sequence in _running.Concat(_cohorts.SelectMany(c => c.Rows)))
        {
            sequence.Fail(exception);
        }

        foreach (var cohort in _cohorts)
        {
            cohort.Dispose();
        }

        _running.Clear();
        _cohorts.Clear();
    }

    private void FailQueued(Exception exception)
    {
        lock (_queueLock)
        {
            while (_queue.TryDequeue(out var sequence))
            {
                sequence.Fail(exception);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded decoder {ModelId}: KV cache {HasCache}, attention mask {HasAttentionMask}, {Layers} cache layers")]
    private static partial void LogLoaded(ILogger logger, string modelId, bool hasCache, bool hasAttentionMask, int layers);

    [LoggerMessage(Level = LogLevel.Error, Message = "A run of {ModelId} with {Sequences} sequences failed; those sequences fail")]
    private static partial void LogRunFailed(ILogger logger, string modelId, int sequences, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "A generation step of {ModelId} failed; every running sequence fails")]
    private static partial void LogStepFailed(ILogger logger, string modelId, Exception exception);

    /// <summary>One generation: its tokens so far, how it picks the next, and the caller waiting for it.</summary>
    internal sealed class Sequence
    {
        private readonly CancellationTokenRegistration _cancellation;

        public Sequence(GenerationRequest request, IReadOnlyList<int> prompt, TextAssembler text, CancellationToken cancellationToken)
        {
            Request = request;
            Tokens = new List<int>(prompt.Count + request.MaxTokens);
            Tokens.AddRange(prompt);
            PromptLength = prompt.Count;
            Text = text;
            Sampler = new TokenSampler(request.Temperature, request.TopP, request.Seed);
            // The caller hears of its cancellation at once; the sequence leaves its batch at the next step.
            _cancellation = cancellationToken.Register(
                static (state, token) => ((Sequence)state!).Completion.TrySetCanceled(token), this);
            if (cancellationToken.IsCancellationRequested)
            {
                Completion.TrySetCanceled(cancellationToken);
            }
        }

        public GenerationRequest Request { get; }

        /// <summary>The prompt's tokens, then the generated ones.</summary>
        public List<int> Tokens { get; }

        public int PromptLength { get; }

        /// <summary>Tokens of <see cref="Tokens"/> already in its cohort's cache.</summary>
        public int Cached { get; set; }

        public int Generated { get; set; }

        public TokenSampler Sampler { get; }

        public TextAssembler Text { get; }

        public TaskCompletionSource<GenerationResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool IsDone => Completion.Task.IsCompleted;

        public bool Started { get; private set; }

        public DateTimeOffset StartedAt { get; private set; }

        public long StartTimestamp { get; private set; }

        public void Start(DateTimeOffset startedAt, long timestamp)
        {
            Started = true;
            StartedAt = startedAt;
            StartTimestamp = timestamp;
        }

        public void Succeed(GenerationResult result)
        {
            _cancellation.Unregister();
            Completion.TrySetResult(result);
        }

        public void Fail(Exception exception)
        {
            _cancellation.Unregister();
            Completion.TrySetException(exception);
        }
    }
}
