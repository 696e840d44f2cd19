namespace Engine.TestKit;

/// <summary>
/// The <c>engine</c> command run as a user runs it, against a server: its own build output (src/Engine.Cli, the same
/// configuration as the tests), with its own dependencies, not the tests' (they run on ASP.NET Core's framework).
/// </summary>
public static class EngineCli
{
    private static readonly Lazy<string> Dll = new(() => Repository.BuildOutput("src/Engine.Cli", "engine.dll"));

    public static Task<Tool.Result> RunAsync(string server, params string[] arguments) =>
        RunAsync(server, new Dictionary<string, string>(), arguments);

    /// <param name="environment">Variables set for the command only (ENGINE_API_KEY, ENGINE_CA_CERT).</param>
    public static Task<Tool.Result> RunAsync(string server, IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        Tool.RunAsync("dotnet", [Dll.Value, $"--server={server}", .. arguments], Environment.CurrentDirectory, environment, timeoutSeconds: 120);
}
