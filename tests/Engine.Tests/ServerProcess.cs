using System.Diagnostics;
using Engine.Server.Hosting;

namespace Engine.Tests;

/// <summary>
/// The real server as its own OS process (the built Engine.Server.dll), so a test can kill it with SIGKILL exactly
/// as an operator's `kill -9` would.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly EngineServer _config;
    private Process? _process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

    public ServerProcess(EngineServer config) => _config = config;

    public EngineServer Client => _config;

    public async Task StartAsync()
    {
        var dll = typeof(EngineHost).Assembly.Location;
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var (k, v) in _config.Settings)
        {
            info.ArgumentList.Add($"--{k}={v}");
        }
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                // The overload without a timeout also waits for the redirected output to be read to its end: the
                // process's last lines (its reason for exiting) come last.
                _process.WaitForExit();
                throw new InvalidOperationException($"server exited with code {_process.ExitCode}:\n{string.Join('\n', _output)}");
            }
            try
            {
                if ((await http.GetAsync($"{_config.HttpAddress}/healthz")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("server process did not become healthy in 90 s");
    }

    /// <summary>Keeps the server's last lines of output, for a failure message.</summary>
    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        _output.Enqueue(line);
        // For debugging a failing process test: ENGINE_TEST_SERVER_LOGS=<dir> keeps every line of every server.
        if (Environment.GetEnvironmentVariable("ENGINE_TEST_SERVER_LOGS") is { Length: > 0 } dir)
        {
            lock (_output)
            {
                File.AppendAllLines(Path.Combine(dir, $"server-{_config.Settings["Engine:GrpcPort"]}.log"), [line]);
            }
        }
        while (_output.Count > 40 && _output.TryDequeue(out _))
        {
        }
    }

    /// <summary>SIGTERM, as systemd or Kubernetes stop a service; returns the exit code once the process is gone.</summary>
    public async Task<int> TerminateAsync()
    {
        using (var term = Process.Start("kill", ["-TERM", _process!.Id.ToString()]))
        {
            await term.WaitForExitAsync();
        }
        await _process.WaitForExitAsync();
        var code = _process.ExitCode;
        _process.Dispose();
        _process = null;
        return code;
    }

    /// <summary>SIGKILL: no shutdown hooks, no checkpoint, no flush.</summary>
    public void Kill()
    {
        try
        {
            _process?.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited on its own meanwhile (or its tree changed under the walk): the wait below settles it.
            if (_process is { HasExited: false })
            {
                _process.Kill();
            }
        }
        _process?.WaitForExit();
        _process?.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await _config.StopAsync();
    }
}

/// <summary>
/// Tests that run server processes on PostgreSQL take turns: together they would pass the server's connection limit,
/// and on two cores a busy neighbour can make a silo miss membership probes.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ServerProcesses
{
    public const string Name = "server processes";
}
