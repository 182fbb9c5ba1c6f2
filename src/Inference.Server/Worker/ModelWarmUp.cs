using Inference.Engine;

namespace Inference.Server.Worker;

/// <summary>Loads the models when a worker starts, in the background, so that the first request does not pay for it.</summary>
public sealed class ModelWarmUp(ModelCatalog models) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Run(() => models.WarmUpAsync(stoppingToken), stoppingToken);
}
