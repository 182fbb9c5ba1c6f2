using MassTransit;

namespace Inference.Server.Results;

/// <summary>Where outputs are kept until the request is read or retained no longer.</summary>
public static class ResultsFeature
{
    /// <summary>The result store's consumer.</summary>
    public static IBusRegistrationConfigurator AddResults(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<StoreResultConsumer, StoreResultConsumerDefinition>();
        return bus;
    }
}
