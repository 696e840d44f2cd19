using System.Diagnostics;

namespace Engine.Cli.Bench;

/// <summary>The Engine server as a separate process (the Engine.Server.dll next to this tool), for client-to-server benchmarks.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string? _directory;

    private ServerProcess(Process process, string? directory, int grpcPort)
    {
        _process = process;
        _directory = directory;
        GrpcAddress = $"http://127.0.0.1:{grpcPort}";
    }

    public string GrpcAddress { get; }

    public static async Task<ServerProcess> StartAsync(string storage, string? connectionString, IEnumerable<string> extra)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Engine.Server.dll");
        var directory = storage == "sqlite" ? Path.Combine(Path.GetTempPath(), "engine-bench", Guid.NewGuid().ToString("N")) : null;
        var (grpc, http) = (FreePort(), FreePort());
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll);
        foreach (var a in new[]
        {
            $"--Engine:Storage={storage}", $"--Engine:GrpcPort={grpc}", $"--Engine:HttpPort={http}",
            $"--Engine:SiloPort={FreePort()}", $"--Engine:GatewayPort={FreePort()}", "--Logging:LogLevel:Default=Warning",
        }.Concat(directory is null ? [$"--Engine:ConnectionString={connectionString}"] : [$"--Engine:DataDirectory={directory}"]).Concat(extra))
        {
            info.ArgumentList.Add(a);
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
                    return new ServerProcess(process, directory, grpc);
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
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        if (_directory is not null)
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

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
