using Engine.Api.V1;
using Engine.Server.Hosting;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;

namespace Engine.TestKit;

/// <summary>
/// The real Engine server, in this process, on real loopback sockets and a real SQLite directory. Stopping and
/// starting it again on the same directory is a restart.
/// </summary>
public sealed class EngineServer : IAsyncDisposable
{
    private WebApplication? _app;
    private GrpcChannel? _channel;
    private CallInvoker? _invoker;
    private readonly Action<WebApplicationBuilder>? _configure;

    /// <param name="configure">Runs on the host builder before Engine's own set-up (a test seam's registration, say).</param>
    public EngineServer(string? dataDirectory = null, Dictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        _configure = configure;
        DataDirectory = dataDirectory ?? TempDirectory.Create();
        Settings = new Dictionary<string, string?>
        {
            ["Engine:DataDirectory"] = DataDirectory,
            ["Engine:GrpcPort"] = FreePorts.Next().ToString(),
            ["Engine:HttpPort"] = FreePorts.Next().ToString(),
            ["Engine:SiloPort"] = FreePorts.Next().ToString(),
            ["Engine:GatewayPort"] = FreePorts.Next().ToString(),
            ["Engine:Clock"] = "event-time",
            ["Engine:AutoTrainMinCustomers"] = "1000000",
            ["Engine:CheckpointInterval"] = "00:00:02",
            ["Logging:LogLevel:Default"] = "Warning",
            // Tests' webhook receivers listen on 127.0.0.1, which the default refuses (docs/alerts.md, "Webhook targets");
            // the tests of that rule set it back to false.
            ["Engine:Webhooks:AllowPrivateTargets"] = "true",
        };
        foreach (var (k, v) in settings ?? [])
        {
            Settings[k] = v;
        }
    }

    public string DataDirectory { get; }
    public Dictionary<string, string?> Settings { get; }
    public string GrpcAddress => $"http://127.0.0.1:{Settings["Engine:GrpcPort"]}";
    public string HttpAddress => $"http://127.0.0.1:{Settings["Engine:HttpPort"]}";

    /// <summary>The running server's services (its silo's grain storage, for instance).</summary>
    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("The server is not running.");

    /// <summary>The server's gRPC channel, with a deadline on unary calls that set none (<see cref="CallDeadline"/>).</summary>
    public CallInvoker Channel => _invoker ??= (_channel = GrpcChannel.ForAddress(GrpcAddress)).Intercept(new CallDeadline(CallDeadline.Default));
    public IngestService.IngestServiceClient Ingest => new(Channel);
    public SegmentService.SegmentServiceClient Segments => new(Channel);
    public ModelService.ModelServiceClient Models => new(Channel);
    public AdminService.AdminServiceClient Admin => new(Channel);
    public AnalyticsService.AnalyticsServiceClient Analytics => new(Channel);
    public AlertService.AlertServiceClient Alerts => new(Channel);

    /// <summary>Ingests events in requests of <paramref name="batch"/>, as a client would.</summary>
    public async Task IngestAllAsync(IEnumerable<Event> events, int batch)
    {
        foreach (var request in Synthetic.Batches(events, batch))
        {
            await Ingest.IngestAsync(request);
        }
    }

    public async Task<EngineServer> StartAsync()
    {
        var args = Settings.Select(kv => $"--{kv.Key}={kv.Value}").ToArray();
        _app = EngineHost.Build(args, _configure);
        await _app.StartAsync();
        await WaitHealthyAsync();
        return this;
    }

    public async Task StopAsync()
    {
        _channel?.Dispose();
        (_channel, _invoker) = (null, null);
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task WaitHealthyAsync()
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await http.GetAsync($"{HttpAddress}/healthz")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("server did not become healthy in 60 s");
    }
}

/// <summary>
/// Directories under the temp folder for one test run: removed when the test process exits, so runs do not pile up
/// their stores, unless <c>ENGINE_TEST_KEEP_DATA=1</c> keeps them for a look after a failure.
/// </summary>
public static class TempDirectory
{
    private static readonly System.Collections.Concurrent.ConcurrentBag<string> Created = [];

    static TempDirectory()
    {
        if (Environment.GetEnvironmentVariable("ENGINE_TEST_KEEP_DATA") != "1")
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveAll();
        }
    }

    public static string Create()
    {
        var path = Path.Combine(Path.GetTempPath(), "engine-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        Created.Add(path);
        return path;
    }

    private static void RemoveAll()
    {
        foreach (var path in Created)
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A server process still writing there, or a file the test made read-only: left behind.
            }
        }
    }
}
