namespace Inference.Integrators.Example;

/// <summary>Files of this repository, found from the test's output folder (under <c>artifacts/</c> at its root).</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(string relativePath) => Path.Combine(Root, relativePath);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Inference.sln")))
                return directory.FullName;
        }

        throw new InvalidOperationException($"No Inference.sln above {AppContext.BaseDirectory}.");
    }
}
