using System.Collections.Concurrent;
using System.Diagnostics;

namespace Engine.Testing;

/// <summary>
/// A server as its own OS process (Engine.Server.dll, or another program of the caller's), healthy once its /healthz
/// answers, so a test can stop it with SIGTERM or kill it with SIGKILL exactly as an operator would. The same process
/// can be started again on the same arguments (a restart). It keeps the server's last lines of output for a failure
/// message; <c>ENGINE_TEST_SERVER_LOGS=&lt;dir&gt;</c> keeps every line of every server, for debugging.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private const int KeptLines = 40;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    private readonly string[] _arguments;
    private readonly Uri _health;
    private readonly (string Name, string Value)[] _environment;
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    /// <param name="arguments">The program's dll, then its arguments (run as <c>dotnet dll arguments…</c>); or an
    /// executable (a self-contained publish), then its arguments (run as it is).</param>
    /// <param name="healthUrl">The URL that answers 2xx once the server serves.</param>
    /// <param name="environment">Variables set for the process only.</param>
    public ServerProcess(IEnumerable<string> arguments, string healthUrl, params (string Name, string Value)[] environment)
    {
        _arguments = [.. arguments];
        _health = new Uri(healthUrl);
        _environment = environment;
    }

    /// <summary>Engine.Server.dll beside the running program, with <paramref name="settings"/> as <c>--Key=Value</c>
    /// arguments; healthy once /healthz answers on <c>Engine:HttpPort</c>.</summary>
    public static ServerProcess ForEngine(IReadOnlyDictionary<string, string?> settings, params (string Name, string Value)[] environment) =>
        new([Path.Combine(AppContext.BaseDirectory, "Engine.Server.dll"), .. settings.Select(kv => $"--{kv.Key}={kv.Value}")],
            $"http://127.0.0.1:{settings["Engine:HttpPort"]}/healthz", environment);

    /// <summary>The server's last lines of output (stdout and stderr), oldest first.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>The running process's id.</summary>
    public int Id => _process?.Id ?? throw new InvalidOperationException("The server process was not started.");

    /// <summary>Starts the process and waits until it is healthy. A process that exits first throws with its output.</summary>
    public async Task StartAsync()
    {
        var dll = _arguments[0].EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
        var info = new ProcessStartInfo(dll ? "dotnet" : _arguments[0])
        {
            WorkingDirectory = Path.GetDirectoryName(_arguments[0])!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in dll ? _arguments : _arguments[1..])
        {
            info.ArgumentList.Add(a);
        }
        foreach (var (name, value) in _environment)
        {
            info.Environment[name] = value;
        }
        var process = _process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow + StartTimeout;
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                // The overload without a timeout also waits for the redirected output to be read to its end: the
                // process's last lines (its reason for exiting) come last.
                process.WaitForExit();
                throw new InvalidOperationException($"server exited with code {process.ExitCode}:\n{Output}");
            }
            try
            {
                if ((await http.GetAsync(_health)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        Kill();
        throw new TimeoutException($"server process did not become healthy in {StartTimeout.TotalSeconds:0} s:\n{Output}");
    }

    /// <summary>How long a stopping server may take before <see cref="TerminateAsync"/> gives up on it: twice the grace
    /// period of deploy/k8s/statefulset.yaml, room for a slow machine.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(120);

    /// <summary>
    /// SIGTERM, as systemd or Kubernetes stop a service; returns the exit code once the process is gone. A server still
    /// running after <see cref="StopTimeout"/> is killed, and the call throws with its last lines.
    /// </summary>
    public async Task<int> TerminateAsync()
    {
        var process = _process ?? throw new InvalidOperationException("The server process is not running.");
        using (var term = Process.Start("kill", ["-TERM", process.Id.ToString()]))
        {
            await term.WaitForExitAsync();
        }
        using (var limit = new CancellationTokenSource(StopTimeout))
        {
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                Kill();
                throw new TimeoutException($"server process still running {StopTimeout.TotalSeconds:0} s after SIGTERM; killed:\n{Output}");
            }
        }
        var code = process.ExitCode;
        process.Dispose();
        _process = null;
        return code;
    }

    /// <summary>SIGKILL: no shutdown hooks, no checkpoint, no flush. Nothing happens when the process is not running.</summary>
    public void Kill()
    {
        if (_process is not { } process)
        {
            return;
        }
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited on its own meanwhile (or its tree changed under the walk): the wait below settles it.
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
        process.WaitForExit();
        process.Dispose();
        _process = null;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        return ValueTask.CompletedTask;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        _output.Enqueue(line);
        if (Environment.GetEnvironmentVariable("ENGINE_TEST_SERVER_LOGS") is { Length: > 0 } dir)
        {
            lock (_output)
            {
                File.AppendAllLines(Path.Combine(dir, $"server-{_health.Port}.log"), [line]);
            }
        }
        while (_output.Count > KeptLines && _output.TryDequeue(out _))
        {
        }
    }
}
