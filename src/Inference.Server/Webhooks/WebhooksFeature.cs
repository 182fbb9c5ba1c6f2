using Inference.Orchestration;
using Inference.Server.Persistence.Sagas;

namespace Inference.Server.Webhooks;

/// <summary>Webhooks: the checks at submission (api), the deliveries a transition records and their dispatcher
/// (orchestrator).</summary>
public static class WebhooksFeature
{
    public static IServiceCollection AddWebhooks(this IServiceCollection services, bool dispatch)
    {
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section)
            .ValidateDataAnnotations()
            .Validate(o => o.Schedule.All(wait => wait >= TimeSpan.Zero), "Webhooks:RetrySchedule holds a negative wait.")
            .Validate(o => o.Lease > o.Timeout * 2, "Webhooks:Lease must be more than twice Webhooks:Timeout.")
            .ValidateOnStart();
        services.AddSingleton<WebhookAddressGuard>();
        services.AddSingleton<ISagaSaveObserver<InferenceState>, WebhookDeliveryRecorder>();

        if (dispatch)
        {
            services.AddSingleton<WebhookSender>();
            services.AddSingleton<WebhookDispatcher>();
            services.AddHostedService(provider => provider.GetRequiredService<WebhookDispatcher>());
        }

        return services;
    }
}
