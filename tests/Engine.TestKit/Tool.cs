using System.Diagnostics;
using System.Text;

namespace Engine.TestKit;

/// <summary>
/// Running other programs from a test (Python, Node, apt-get, npm): exit code and output, with a time limit. A test
/// that needs a tool the machine lacks installs it in CI (CI=true) and skips elsewhere (<see cref="Require"/>).
/// </summary>
public static class Tool
{
    public sealed record Result(int ExitCode, string Out, string Err)
    {
        public string All => $"{Out}\n{Err}";
    }

    public static async Task<Result> RunAsync(string file, IEnumerable<string> arguments, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null, int timeoutSeconds = 300)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repository.Root,
        };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }
        using var process = Process.Start(info)!;
        var (output, error) = (new StringBuilder(), new StringBuilder());
        var reading = Task.WhenAll(Pump(process.StandardOutput, output), Pump(process.StandardError, error));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} ran past {timeoutSeconds} s");
        }
        // A child the program left running (a build server, a daemon a package started) may hold its output open: what
        // came by shortly after the exit is the output.
        try
        {
            await reading.WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
        }
        return new Result(process.ExitCode, Text(output), Text(error));
    }

    private static async Task Pump(StreamReader from, StringBuilder into)
    {
        var buffer = new char[4096];
        int n;
        while ((n = await from.ReadAsync(buffer)) > 0)
        {
            lock (into)
            {
                into.Append(buffer, 0, n);
            }
        }
    }

    private static string Text(StringBuilder text)
    {
        lock (text)
        {
            return text.ToString();
        }
    }

    /// <summary>
    /// Makes sure a tool works (<paramref name="check"/>), installing it with <paramref name="install"/> in CI when it
    /// does not. Outside CI a missing tool skips the test, with what to install.
    /// </summary>
    public static async Task Require(string what, Func<Task<bool>> check, Func<Task<Result>> install)
    {
        if (await check())
        {
            return;
        }
        Skip.IfNot(Environment.GetEnvironmentVariable("CI") == "true", $"{what} is not installed (CI installs it)");
        var installed = await install();
        Assert.True(installed.ExitCode == 0 && await check(), $"installing {what} failed:\n{installed.All}");
    }
}
