using MassTransit;

namespace Inference.Server.Messaging;

/// <summary>
/// Receive endpoints that a feature configures itself, when ConfigureEndpoints cannot: their number or names depend on
/// services (e.g. one queue per model the worker serves). Registered in the container; applied to the bus as it is built.
/// </summary>
public interface IBusEndpoints
{
    void Configure(IBusRegistrationContext context, IReceiveConfigurator transport);
}
