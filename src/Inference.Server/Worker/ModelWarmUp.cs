namespace Inference.Server.Worker;

/// <summary>
/// Loads and warms the worker's models when it starts, in the background, so that the first request does not pay for
/// it; the worker reports ready only once they all are (see <see cref="Hosting.WorkerReadinessCheck"/>). Taking
/// <see cref="WorkerModels"/> at construction makes a <see cref="WorkerOptions.Models"/> that names an unknown model stop
/// the start.
/// </summary>
public sealed partial class ModelWarmUp(WorkerModels models, TimeProvider clock, ILogger<ModelWarmUp> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(async () =>
    {
        var started = clock.GetTimestamp();
        try
        {
            await models.WarmUpAsync(stoppingToken).ConfigureAwait(false);
            LogWarm(string.Join(", ", models.Models.Select(model => model.Descriptor.Id)), clock.GetElapsedTime(started).TotalSeconds);
        }
        catch (ModelWarmUpException exception)
        {
            // Not thrown on: a failed background service would stop the host, and an unready worker that stays up says
            // more (its log, its /health/ready) than one that restarts in a loop.
            LogFailed(exception, exception.Model);
        }
    }, stoppingToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Models loaded and warm in {Seconds:F1} s: {Models}. The worker is ready.")]
    private partial void LogWarm(string models, double seconds);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Model {Model} failed to load: this worker stays unready (/health/ready answers 503), and its requests fail, until the model is fixed and the worker restarted.")]
    private partial void LogFailed(Exception exception, string model);
}
