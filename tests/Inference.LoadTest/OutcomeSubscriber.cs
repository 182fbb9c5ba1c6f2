using System.Globalization;
using System.Runtime.InteropServices;
using Inference.Contracts;
using MassTransit;

namespace Inference.LoadTest;

/// <summary>
/// <c>subscribe</c>: records every outcome event the platform publishes, as a subscriber of its own would, one line per
/// delivery: <c>inference id, type (completed, failed, canceled), MessageId</c>, tab-separated, flushed before the
/// message is acknowledged.
/// </summary>
/// <remarks>
/// Its queue is durable and never auto-deleted, so that events published while it reconnects (a broker restart) wait
/// for it. Delivery is at least once: a delivery that was not acknowledged before a connection dropped comes again,
/// and the outbox may publish the same message (same MessageId) twice after a crash. Both show as repeated lines; the
/// reader deduplicates by MessageId, as the contract tells a subscriber to. Prints <c>subscribed</c> once the queue is
/// bound, and stops on SIGTERM or SIGINT.
/// </remarks>
internal static class OutcomeSubscriber
{
    public const string Usage = """
        usage: Inference.LoadTest subscribe --rabbitmq amqp://user:password@host:port/vhost --out events.tsv
                                            [--queue load-test-outcomes]
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        string? Value(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        for (var i = 0; i < args.Length; i += 2)
        {
            if (args[i] is not ("--rabbitmq" or "--out" or "--queue") || i + 1 >= args.Length)
            {
                await Console.Error.WriteLineAsync($"Unknown option or missing value: {args[i]}\n{Usage}");
                return 2;
            }
        }

        if (Value("--rabbitmq") is not { } rabbitMq || Value("--out") is not { } path)
        {
            await Console.Error.WriteLineAsync(Usage);
            return 2;
        }

        var queue = Value("--queue") ?? "load-test-outcomes";
        await using var file = new StreamWriter(path, append: true) { AutoFlush = true };
        var gate = new SemaphoreSlim(1, 1);
        var counts = new int[3];

        async Task Write(ConsumeContext context, Guid inferenceId, string type, int slot)
        {
            await gate.WaitAsync();
            try
            {
                await file.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{inferenceId}\t{type}\t{context.MessageId}\t{(context.ReceiveContext.Redelivered ? "redelivered" : "first")}"));
                counts[slot]++;
            }
            finally
            {
                gate.Release();
            }
        }

        var bus = Bus.Factory.CreateUsingRabbitMq(transport =>
        {
            transport.Host(new Uri(rabbitMq));
            transport.ReceiveEndpoint(queue, endpoint =>
            {
                endpoint.Durable = true;
                endpoint.AutoDelete = false;
                endpoint.PrefetchCount = 64;
                endpoint.Handler<InferenceCompleted>(c => Write(c, c.Message.InferenceId, "completed", 0));
                endpoint.Handler<InferenceFailed>(c => Write(c, c.Message.InferenceId, "failed", 1));
                endpoint.Handler<InferenceCanceled>(c => Write(c, c.Message.InferenceId, "canceled", 2));
            });
        });

        var stop = new TaskCompletionSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });

        using (var starting = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
            await bus.StartAsync(starting.Token);
        Console.WriteLine($"subscribed: queue {queue}");

        await stop.Task;
        await bus.StopAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"stopped: completed {counts[0]}, failed {counts[1]}, canceled {counts[2]} deliveries"));
        return 0;
    }
}
