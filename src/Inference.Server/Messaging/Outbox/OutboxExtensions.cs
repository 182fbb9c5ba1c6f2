namespace Inference.Server.Messaging.Outbox;

public static class OutboxExtensions
{
    /// <summary>
    /// The transactional outbox of a process that writes to the database: the dispatcher that delivers what a commit
    /// promised to send and, when <paramref name="sweep"/> is true (orchestrators), the sweeper that delivers what other
    /// processes left behind.
    /// </summary>
    public static IServiceCollection AddTransactionalOutbox(this IServiceCollection services, bool sweep)
    {
        services.AddOptions<OutboxOptions>().BindConfiguration(OutboxOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<OutboxDispatcher>();
        if (sweep)
            services.AddHostedService<OutboxSweeper>();
        return services;
    }
}
