using System.Diagnostics;

namespace Engine.TestKit;

/// <summary>
/// The <c>engine</c> command run as a user runs it, against a server: its own build output (src/Engine.Cli, the same
/// configuration as the tests), with its own dependencies, not the tests' (they run on ASP.NET Core's framework).
/// </summary>
public static class EngineCli
{
    private static readonly Lazy<string> Dll = new(() => Repository.BuildOutput("src/Engine.Cli", "engine.dll"));

    public sealed record Result(int ExitCode, string Out, string Err);

    public static Task<Result> RunAsync(string server, params string[] arguments) =>
        RunAsync(server, new Dictionary<string, string>(), arguments);

    /// <param name="environment">Variables set for the command only (ENGINE_API_KEY, ENGINE_CA_CERT).</param>
    public static async Task<Result> RunAsync(string server, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Dll.Value);
        info.ArgumentList.Add($"--server={server}");
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await output, await error);
    }
}
