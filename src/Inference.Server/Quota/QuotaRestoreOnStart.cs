namespace Inference.Server.Quota;

/// <summary>
/// Rebuilds the quota windows from the database when an orchestrator starts and finds them lost (an empty Redis, or the
/// in-process ledger of a new process), before the first reservation needs them; a reservation that finds them lost later
/// rebuilds them itself. Tries again, every few seconds, while the stores are away.
/// </summary>
internal sealed partial class QuotaRestoreOnStart(IQuotaLedger ledger, ILogger<QuotaRestoreOnStart> logger) : BackgroundService
{
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ledger.RestoreAsync(stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                LogRestoreFailed(exception, RetryEvery.TotalSeconds);
            }

            await Task.Delay(RetryEvery, stoppingToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The quota windows could not be checked or rebuilt; trying again in {Seconds} s.")]
    private partial void LogRestoreFailed(Exception exception, double seconds);
}
