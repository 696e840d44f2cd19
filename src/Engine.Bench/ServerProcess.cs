using System.Diagnostics;

namespace Engine.Bench;

/// <summary>The Engine server as a separate process (the Engine.Server.dll next to this tool), for client-to-server benchmarks.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string? _directory;
    private readonly string[] _arguments;
    private bool _keepDirectory;

    private ServerProcess(Process process, string? directory, int grpcPort, string[] arguments)
    {
        _process = process;
        _directory = directory;
        _arguments = arguments;
        GrpcAddress = $"http://127.0.0.1:{grpcPort}";
    }

    public string GrpcAddress { get; }

    public static Task<ServerProcess> StartAsync(string storage, string? connectionString, IEnumerable<string> extra)
    {
        var directory = storage == "sqlite" ? Path.Combine(Path.GetTempPath(), "engine-bench", Guid.NewGuid().ToString("N")) : null;
        var (grpc, http) = (FreePort(), FreePort());
        string[] arguments =
        [
            Path.Combine(AppContext.BaseDirectory, "Engine.Server.dll"),
            $"--Engine:Storage={storage}", $"--Engine:GrpcPort={grpc}", $"--Engine:HttpPort={http}",
            $"--Engine:SiloPort={FreePort()}", $"--Engine:GatewayPort={FreePort()}", "--Logging:LogLevel:Default=Warning",
            .. directory is null ? [$"--Engine:ConnectionString={connectionString}"] : new[] { $"--Engine:DataDirectory={directory}" },
            .. extra,
        ];
        return LaunchAsync(arguments, directory, grpc, http);
    }

    /// <summary>
    /// Another process of this tool (e.g. the baseline server), healthy once /healthz answers. It runs the garbage
    /// collector as Engine.Server does (server GC without DATAS, see its project file), so a yardstick server differs
    /// from Engine's only in what it serves. With DATAS on, the no-op grain's first calls at 64 in flight had a p99 of
    /// 30.3 and 25.9 ms, against 11.0 and 21.3 ms without, alternating in one sitting.
    /// </summary>
    public static Task<ServerProcess> StartToolAsync(IEnumerable<string> arguments, int grpc, int http) =>
        LaunchAsync([Path.Combine(AppContext.BaseDirectory, "engine-bench.dll"), .. arguments], null, grpc, http,
            ("DOTNET_GCDynamicAdaptationMode", "0"));

    /// <summary>SIGTERM and a start on the same data and ports: a graceful restart, after which no customer is active.</summary>
    public async Task<ServerProcess> RestartAsync()
    {
        using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString()]))
        {
            await term.WaitForExitAsync();
        }
        await _process.WaitForExitAsync();
        _keepDirectory = true;
        var grpc = int.Parse(_arguments.First(a => a.StartsWith("--Engine:GrpcPort=")).Split('=')[1]);
        var http = int.Parse(_arguments.First(a => a.StartsWith("--Engine:HttpPort=")).Split('=')[1]);
        return await LaunchAsync(_arguments, _directory, grpc, http);
    }

    private static async Task<ServerProcess> LaunchAsync(string[] arguments, string? directory, int grpc, int http,
        params (string Name, string Value)[] environment)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var client = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                if ((await client.GetAsync($"http://127.0.0.1:{http}/healthz")).IsSuccessStatusCode)
                {
                    return new ServerProcess(process, directory, grpc, arguments);
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        process.Kill(true);
        throw new InvalidOperationException("the server process did not become healthy in 90 s");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
        // A restarted server owns the directory now.
        if (_directory is not null && !_keepDirectory)
        {
            try
            {
                Directory.Delete(_directory, true);
            }
            catch (IOException)
            {
            }
        }
    }

    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
