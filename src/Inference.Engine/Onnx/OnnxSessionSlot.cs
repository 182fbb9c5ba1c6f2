using Microsoft.ML.OnnxRuntime;

namespace Inference.Engine.Onnx;

/// <summary>
/// One model's ONNX Runtime session over its life: loaded once, on first use, under a gate; used by runs that hold it
/// shared; freed under an exclusive hold, so never under a run that still uses it (ONNX Runtime would crash the
/// process). Runs are synchronous, so the shared hold's thread affinity holds.
/// </summary>
/// <param name="owner">What the slot belongs to, named by <see cref="ObjectDisposedException"/> once it is closed.</param>
internal sealed class OnnxSessionSlot(object owner)
{
    private readonly SemaphoreSlim _loadGate = new(1, 1);
    private readonly ReaderWriterLockSlim _lifetime = new();
    private volatile InferenceSession? _session;
    private bool _closed;

    public bool IsLoaded => _session is not null;

    /// <summary>Runs holding the session right now.</summary>
    public int RunsInProgress => _lifetime.CurrentReadCount;

    /// <summary>The session once loaded; null before, and after <see cref="Close"/>.</summary>
    public InferenceSession? Session => _session;

    /// <summary>The session, loaded by <paramref name="load"/> on the first call (one load at a time).</summary>
    /// <exception cref="ObjectDisposedException">The slot is closed.</exception>
    public async ValueTask<InferenceSession> GetAsync(Func<InferenceSession> load, CancellationToken cancellationToken)
    {
        if (_session is { } loaded)
        {
            return loaded;
        }

        await _loadGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, owner);
            return _session ??= load();
        }
        finally
        {
            _loadGate.Release();
        }
    }

    /// <summary>Holds the session for a run, on this thread, until <see cref="ExitRun"/>.</summary>
    public void EnterRun() => _lifetime.EnterReadLock();

    public void ExitRun() => _lifetime.ExitReadLock();

    /// <summary>
    /// Frees the session: waits for a load in progress (so the session it creates is freed too) and for the runs
    /// holding it. Later loads throw <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Close()
    {
        _loadGate.Wait();
        _lifetime.EnterWriteLock();
        try
        {
            _closed = true;
            _session?.Dispose();
            _session = null;
        }
        finally
        {
            _lifetime.ExitWriteLock();
            _loadGate.Release();
        }
    }
}
