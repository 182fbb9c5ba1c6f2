using Inference.Server.Persistence;
using Inference.Server.Tests.Integration;
using Inference.Server.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

/// <summary>
/// One <see cref="InferenceAppFactory"/> shared by the specs of a class (xunit builds class fixtures only through a
/// constructor without arguments). Subclasses pass settings or adjust the host.
/// </summary>
public class EmbeddedApp : IAsyncLifetime
{
    private readonly InferenceAppFactory _factory;

    public EmbeddedApp()
        : this(null)
    {
    }

    protected EmbeddedApp(IReadOnlyDictionary<string, string?>? settings) => _factory = new InferenceAppFactory(settings);

    public WebApplicationFactory<Program> App { get; private set; } = null!;

    public IServiceProvider Services => App.Services;

    public HttpClient CreateClient() => App.CreateClient();

    /// <summary>A client that authenticates as the seeded <c>dev</c> tenant.</summary>
    public HttpClient CreateDevClient()
    {
        var client = App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", InferenceAppFactory.ApiKey);
        return client;
    }

    public virtual Task InitializeAsync()
    {
        App = Customize(_factory);
        App.StartServer(); // Start now, so that a spec's timings do not include the start.
        return Task.CompletedTask;
    }

    public virtual async Task DisposeAsync()
    {
        // Stopping the app while its worker runs the model kills the whole test process (the model's ONNX session is
        // disposed under the run), so the specs' requests are let finish first.
        if (App is not null)
            await Poll.UntilAsync(CountUnfinishedAsync, count => count == 0, "every request of the app to finish");

        // Disposing the factory disposes any app derived from it.
        await _factory.DisposeAsync();
    }

    /// <summary>Requests the app has stored, in any state.</summary>
    public async Task<int> CountInferencesAsync()
    {
        await using var scope = Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences.CountAsync();
    }

    private async Task<int> CountUnfinishedAsync()
    {
        await using var scope = Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Inferences
            .CountAsync(x => x.CurrentState != "Completed" && x.CurrentState != "Failed" && x.CurrentState != "Canceled");
    }

    /// <summary>Adjusts the host beyond settings, e.g. with <c>WithWebHostBuilder</c>.</summary>
    protected virtual WebApplicationFactory<Program> Customize(InferenceAppFactory factory) => factory;
}

/// <summary>The same app on the real services: PostgreSQL, RabbitMQ and Redis, in a slice of its own.</summary>
public sealed class PostgresApp : EmbeddedApp
{
    private readonly IsolatedServices _services;

    public PostgresApp()
        : this(new IsolatedServices())
    {
    }

    private PostgresApp(IsolatedServices services)
        : base(services.Settings()) => _services = services;

    public override async Task InitializeAsync()
    {
        await _services.InitializeAsync();
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _services.DisposeAsync();
    }
}
