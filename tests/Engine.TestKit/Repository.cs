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
}
