using System.Xml.Linq;
using Inference.Testing;

namespace Inference.Integrators.Example;

/// <summary>
/// This project stands for an integrating team's tests, so it may use only what they get: the contracts and the
/// harness packages. Nothing of the server, and none of the infrastructure the server runs on, may come with them.
/// </summary>
public sealed class When_an_integrator_references_the_packages
{
    private static readonly string[] Forbidden =
    [
        "Inference.Server", "Inference.Engine", "Microsoft.AspNetCore", "Microsoft.EntityFrameworkCore", "Npgsql",
        "StackExchange.Redis", "RabbitMQ", "MassTransit.RabbitMqTransport", "Microsoft.ML.OnnxRuntime",
    ];

    [Fact]
    public void Should_reference_only_the_contracts_and_the_testing_projects()
    {
        var project = XDocument.Load(Repository.PathOf("tests/Inference.Integrators.Example/Inference.Integrators.Example.csproj"));

        var references = project.Descendants()
            .Where(x => x.Name.LocalName is "ProjectReference" or "PackageReference" or "Reference" or "FrameworkReference")
            .Select(x => $"{x.Name.LocalName} {Path.GetFileName(((string?)x.Attribute("Include"))?.Replace('\\', '/'))}");

        Assert.Equal(["ProjectReference Inference.Contracts.csproj", "ProjectReference Inference.Testing.csproj"], references.Order());
    }

    [Fact]
    public void Should_bring_no_server_or_infrastructure_assembly_into_the_output()
    {
        var assemblies = Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll").Select(Path.GetFileNameWithoutExtension).ToList();

        Assert.Contains("Inference.Testing", assemblies);
        Assert.DoesNotContain(assemblies, name => Forbidden.Any(prefix => name!.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)));
    }

    [Fact]
    public void Should_build_the_harness_on_contracts_orchestration_and_masstransit_only()
    {
        var references = typeof(InferenceTestHarness).Assembly.GetReferencedAssemblies().Select(x => x.Name!).ToList();

        Assert.Contains("Inference.Contracts", references);
        Assert.Contains("Inference.Orchestration", references);
        Assert.DoesNotContain(references, name => Forbidden.Any(prefix => name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)));
    }
}
