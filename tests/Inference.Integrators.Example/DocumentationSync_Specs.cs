namespace Inference.Integrators.Example;

/// <summary>The complete example in docs/integrators.md is this project's Documentation_Example.cs, word for word.</summary>
public sealed class When_the_integrators_guide_shows_its_example
{
    private const string Marker = "<!-- example: tests/Inference.Integrators.Example/Documentation_Example.cs -->";

    [Fact]
    public void Should_show_exactly_the_example_that_runs_as_a_test()
    {
        var guide = Normalize(File.ReadAllText(Repository.PathOf("docs/integrators.md")));
        var example = Normalize(File.ReadAllText(Repository.PathOf("tests/Inference.Integrators.Example/Documentation_Example.cs")));

        var marker = guide.IndexOf(Marker, StringComparison.Ordinal);
        Assert.True(marker >= 0, $"docs/integrators.md lacks the line {Marker}");
        var start = guide.IndexOf("```csharp\n", marker, StringComparison.Ordinal) + "```csharp\n".Length;
        var end = guide.IndexOf("\n```", start, StringComparison.Ordinal);
        Assert.True(start > marker && end > start, "The marker must be followed by a ```csharp block.");

        Assert.Equal(example.TrimEnd('\n'), guide[start..end]);
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);
}
