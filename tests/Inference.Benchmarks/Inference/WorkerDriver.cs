using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Inference.Benchmarks.Measurement;
using Inference.Orchestration.Protocol;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Benchmarks.Inference;

/// <summary>
/// Plays the orchestrator's part towards a worker, and only that: sends <see cref="RunInference"/> with one input to the
/// worker's queue over RabbitMQ and hears <see cref="InferenceStarted"/>, <see cref="InferenceSucceeded"/> and faults
/// on a queue of its own, so that what is measured is the worker (queue, batching, model, replies), not the saga.
/// </summary>
internal sealed class WorkerDriver : IAsyncDisposable
{
    /// <summary>How long one request may take before the run is abandoned: far beyond any queueing at full load.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromMinutes(2);

    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _pending = new();
    private ServiceProvider? _services;
    private IBusControl? _bus;
    private long _started;

    private WorkerDriver()
    {
    }

    /// <summary>Connects to <paramref name="rabbitMq"/> (the sandbox's virtual host) and starts listening for the replies.</summary>
    public static async Task<WorkerDriver> StartAsync(Uri rabbitMq, CancellationToken cancellationToken)
    {
        var driver = new WorkerDriver();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetry();
            bus.UsingRabbitMq((_, transport) =>
            {
                transport.Host(rabbitMq);
                // The replies are published; a queue of this process's own, bound to their exchanges, gets a copy.
                transport.ReceiveEndpoint(string.Create(CultureInfo.InvariantCulture, $"bench-inference-replies-{Environment.ProcessId}"), endpoint =>
                {
                    endpoint.AutoDelete = true;
                    endpoint.Durable = false;
                    endpoint.PrefetchCount = 512;
                    endpoint.Handler<InferenceStarted>(_ =>
                    {
                        Interlocked.Increment(ref driver._started);
                        return Task.CompletedTask;
                    });
                    endpoint.Handler<InferenceSucceeded>(context =>
                    {
                        if (driver._pending.TryRemove(context.Message.InferenceId, out var reply))
                            reply.TrySetResult();
                        return Task.CompletedTask;
                    });
                    endpoint.Handler<Fault<RunInference>>(context =>
                    {
                        if (driver._pending.TryRemove(context.Message.Message.InferenceId, out var reply))
                            reply.TrySetException(new InvalidOperationException(
                                context.Message.Exceptions.FirstOrDefault()?.Message ?? "the worker faulted"));
                        return Task.CompletedTask;
                    });
                });
            });
        });

        driver._services = services.BuildServiceProvider();
        try
        {
            driver._bus = driver._services.GetRequiredService<IBusControl>();
            await driver._bus.StartAsync(cancellationToken).ConfigureAwait(false);
            return driver;
        }
        catch
        {
            await driver.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Keeps <paramref name="inFlight"/> single-input requests outstanding against the worker (each sender sends its next
    /// as soon as its last one is answered), warms up for <paramref name="warmup"/>, then counts the answers over
    /// <paramref name="duration"/>; then stops sending and waits for every outstanding request, so that the next phase
    /// starts on an empty queue. The CPU time of the worker's process, <paramref name="workerPid"/>, of the broker's
    /// (<paramref name="rabbitMqPid"/>, null when it runs elsewhere), of this process and of the machine are read at both
    /// ends of the measured window. When the worker writes the engine's Debug line per batch
    /// (<see cref="WorkerSettings.Batched"/>) to <paramref name="workerLog"/>, the batches of the measured window are read
    /// from it; with no log, batch sizes are not reported.
    /// </summary>
    public async Task<WorkerPhaseFigures> RunAsync(string modelId, IReadOnlyList<string> sentences, int inFlight, TimeSpan warmup,
        TimeSpan duration, int workerPid, int? rabbitMqPid, string? workerLog, CancellationToken cancellationToken)
    {
        var endpoint = await _bus!.GetSendEndpoint(WorkerSettings.Address(modelId)).ConfigureAwait(false);
        var completed = 0L;
        var failures = new ConcurrentQueue<string>();
        var latencies = new ConcurrentQueue<double>();
        var measuring = 0;
        var next = -1;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        async Task SendLoopAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                var id = NewId.NextGuid();
                var reply = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _pending[id] = reply;
                var sentAt = Stopwatch.GetTimestamp();
                var sentence = sentences[(int)((uint)Interlocked.Increment(ref next) % (uint)sentences.Count)];
                try
                {
                    // Not the stop token: a request once begun is seen through, so that none is left in the queue.
                    await endpoint.Send(new RunInference { InferenceId = id, Model = modelId, Inputs = [sentence] }, cancellationToken)
                        .ConfigureAwait(false);
                    await reply.Task.WaitAsync(RequestTimeout, cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref completed);
                    if (Volatile.Read(ref measuring) == 1)
                        latencies.Enqueue(Stopwatch.GetElapsedTime(sentAt).TotalMilliseconds);
                }
                catch (InvalidOperationException exception)
                {
                    failures.Enqueue(exception.Message);
                }
                finally
                {
                    _pending.TryRemove(id, out _);
                }
            }
        }

        var startedBefore = Interlocked.Read(ref _started);
        var senders = Enumerable.Range(0, inFlight).Select(_ => Task.Run(SendLoopAsync, CancellationToken.None)).ToList();
        try
        {
            await Task.Delay(warmup, cancellationToken).ConfigureAwait(false);
            var logStart = LogLength(workerLog);
            var start = Take(workerPid, rabbitMqPid, Interlocked.Read(ref completed));
            Volatile.Write(ref measuring, 1);
            await Task.Delay(duration, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref measuring, 0);
            var end = Take(workerPid, rabbitMqPid, Interlocked.Read(ref completed));
            var logEnd = LogLength(workerLog);
            stop.Cancel();
            await Task.WhenAll(senders).ConfigureAwait(false);

            var answered = end.Completed - start.Completed;
            var seconds = Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds;
            var machine = end.Machine - start.Machine;
            var workerMs = ProcFs.TicksToMilliseconds(end.WorkerTicks - start.WorkerTicks);
            var rabbitMqMs = ProcFs.TicksToMilliseconds(end.RabbitMqTicks - start.RabbitMqTicks);
            var clientMs = (end.ClientCpu - start.ClientCpu).TotalMilliseconds;
            var machineMs = ProcFs.TicksToMilliseconds(Math.Max(1, machine.Total));
            var otherMs = ProcFs.TicksToMilliseconds(machine.Processes + machine.Interrupts) - workerMs - rabbitMqMs - clientMs;
            var sorted = latencies.Order().ToArray();
            return new WorkerPhaseFigures(
                inFlight,
                Math.Round(seconds, 2),
                answered,
                Math.Round(answered / seconds, 1),
                Math.Round(Percentile(sorted, 0.50), 1),
                Math.Round(Percentile(sorted, 0.95), 1),
                Math.Round(workerMs / Math.Max(1, answered), 3),
                Math.Round(clientMs / Math.Max(1, answered), 3),
                rabbitMqPid is null ? null : Math.Round(rabbitMqMs / Math.Max(1, answered), 3),
                Math.Round(100.0 * (machine.Processes + machine.Interrupts) / Math.Max(1, machine.Total), 1),
                Math.Round(100.0 * Math.Max(0, otherMs) / machineMs, 1),
                Math.Round(100.0 * machine.Steal / Math.Max(1, machine.Total), 1),
                Interlocked.Read(ref _started) - startedBefore,
                Interlocked.Read(ref completed),
                [.. failures.Distinct(StringComparer.Ordinal)],
                failures.Count,
                workerLog is null ? null : await BatchFigures.ReadAsync(workerLog, modelId, logStart, logEnd, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            stop.Cancel();
            // A sender still waiting (a failed run) ends at its request timeout or with the run's cancellation.
            await Task.WhenAll(senders.Select(s => s.ContinueWith(_ => { }, TaskScheduler.Default))).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _bus.StopAsync(timeout.Token).ConfigureAwait(false);
        }

        if (_services is not null)
            await _services.DisposeAsync().ConfigureAwait(false);
    }

    private static Snapshot Take(int workerPid, int? rabbitMqPid, long completed)
    {
        var processes = ProcFs.ReadProcesses();
        return new(
            Stopwatch.GetTimestamp(),
            completed,
            processes.TryGetValue(workerPid, out var worker) ? worker.OwnTicks : 0,
            rabbitMqPid is { } broker ? ProcFs.TreeTicks(processes, broker) : 0,
            Environment.CpuUsage.TotalTime,
            ProcFs.ReadMachine());
    }

    private static long LogLength(string? path) => path is not null && File.Exists(path) ? new FileInfo(path).Length : 0;

    private static double Percentile(double[] sorted, double fraction) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(fraction * sorted.Length))];

    private sealed record Snapshot(long Timestamp, long Completed, long WorkerTicks, long RabbitMqTicks, TimeSpan ClientCpu, MachineTimes Machine);
}

/// <summary>One measured phase of the worker.</summary>
/// <param name="InFlight">Requests kept outstanding.</param>
/// <param name="Seconds">The measured window.</param>
/// <param name="Sentences">Requests answered within it (one sentence each).</param>
/// <param name="SentencesPerSecond">The figure.</param>
/// <param name="LatencyP50Ms">Send to InferenceSucceeded, of the requests answered within the window: mostly queueing at this load.</param>
/// <param name="LatencyP95Ms">Likewise, 95th percentile.</param>
/// <param name="WorkerCpuMsPerSentence">The worker process's CPU time per answered sentence.</param>
/// <param name="ClientCpuMsPerSentence">This process's (the driver's), which shares the machine with the worker.</param>
/// <param name="RabbitMqCpuMsPerSentence">The broker's, when it runs on this machine.</param>
/// <param name="MachineBusyPercent">The machine's CPU in use, all processes, in % of all cores.</param>
/// <param name="OtherCpuPercent">
/// The machine's CPU used by anything but the worker, this process and the broker, in % of all cores: other work that
/// slowed the worker down.
/// </param>
/// <param name="StealPercent">
/// The machine's CPU time the hypervisor gave to other guests, in % of all cores: on a shared host, time the worker had no
/// processor at all.
/// </param>
/// <param name="Started">InferenceStarted heard during the phase, warm-up and drain included.</param>
/// <param name="Answered">Requests answered during the phase, warm-up and drain included.</param>
/// <param name="Failures">The distinct reasons of failed requests; none in a valid run.</param>
/// <param name="FailureCount">Failed requests.</param>
/// <param name="Batches">The model runs of the measured window and their sizes, from the worker's log; null when not logged.</param>
internal sealed record WorkerPhaseFigures(
    int InFlight,
    double Seconds,
    long Sentences,
    double SentencesPerSecond,
    double LatencyP50Ms,
    double LatencyP95Ms,
    double WorkerCpuMsPerSentence,
    double ClientCpuMsPerSentence,
    double? RabbitMqCpuMsPerSentence,
    double MachineBusyPercent,
    double OtherCpuPercent,
    double StealPercent,
    long Started,
    long Answered,
    IReadOnlyList<string> Failures,
    int FailureCount,
    BatchFigures? Batches);
