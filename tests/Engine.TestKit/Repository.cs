namespace Engine.TestKit;

/// <summary>The repository the tests were built from: its root (where Engine.sln is), for files a test runs as a user would.</summary>
public static class Repository
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Engine.sln")))
            {
                return d.FullName;
            }
        }
        throw new DirectoryNotFoundException($"no Engine.sln above {AppContext.BaseDirectory}");
    });

    public static string Root => RootPath.Value;

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>
    /// A file of another project's build output (<paramref name="project"/>, relative to the root), in the tests' own
    /// configuration and target framework: the project run as its own program, with its own dependencies.
    /// </summary>
    public static string BuildOutput(string project, string file)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var path = Path.Combine(Root, project, "bin", output.Parent!.Name, output.Name, file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is not built");
    }
}
