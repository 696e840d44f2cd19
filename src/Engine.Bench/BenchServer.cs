using Engine.Testing;

namespace Engine.Bench;

/// <summary>
/// A server the benchmarks measure through the network: Engine.Server.dll (next to this tool), or a yardstick server
/// of this tool, as its own process on free ports. An Engine server on SQLite gets a throwaway directory, deleted at
/// the end.
/// </summary>
public sealed class BenchServer : IAsyncDisposable
{
    private readonly ServerProcess _process;
    private readonly string? _directory;
    private HttpSink? _traces;

    private BenchServer(ServerProcess process, int grpcPort, string? directory, int? httpPort = null)
    {
        _process = process;
        _directory = directory;
        GrpcAddress = $"http://127.0.0.1:{grpcPort}";
        HttpAddress = httpPort is { } http ? $"http://127.0.0.1:{http}" : null;
    }

    public string GrpcAddress { get; }

    /// <summary>/healthz and /metrics (an Engine server).</summary>
    public string? HttpAddress { get; }

    /// <summary>Bytes of spans the server exported (with tracing on).</summary>
    public long TraceBytes => _traces?.Bytes ?? 0;

    /// <param name="extra">More settings (Engine:AutoTrainMinCustomers, say).</param>
    /// <param name="tracing">Turn the server's OpenTelemetry tracing on, exporting to an <see cref="HttpSink"/> that counts and discards the spans.</param>
    public static async Task<BenchServer> StartAsync(string storage, string? connectionString, IReadOnlyDictionary<string, string?> extra, bool tracing = false)
    {
        var directory = storage == "sqlite" ? Path.Combine(Path.GetTempPath(), "engine-bench", Guid.NewGuid().ToString("N")) : null;
        var (grpc, http) = (FreePorts.Next(), FreePorts.Next());
        var settings = new Dictionary<string, string?>
        {
            ["Engine:Storage"] = storage,
            ["Engine:GrpcPort"] = grpc.ToString(),
            ["Engine:HttpPort"] = http.ToString(),
            ["Engine:SiloPort"] = FreePorts.Next().ToString(),
            ["Engine:GatewayPort"] = FreePorts.Next().ToString(),
            ["Logging:LogLevel:Default"] = "Warning",
            [directory is null ? "Engine:ConnectionString" : "Engine:DataDirectory"] = directory ?? connectionString,
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }
        // Exporting for real (serialising and posting every span), without a collector's own cost on this machine.
        var traces = tracing ? new HttpSink(keep: false) : null;
        (string, string)[] otlp = traces is null ? [] : [("OTEL_EXPORTER_OTLP_ENDPOINT", traces.Address), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")];
        var process = ServerProcess.ForEngine(settings, otlp);
        await process.StartAsync();
        return new BenchServer(process, grpc, directory, http) { _traces = traces };
    }

    /// <summary>
    /// Another process of this tool (e.g. the baseline server), healthy once /healthz answers. It runs the garbage
    /// collector as Engine.Server does (server GC without DATAS, see its project file), so a yardstick server differs
    /// from Engine's only in what it serves (deploy/bench/HISTORY.md, "Behind the code").
    /// </summary>
    public static Task<BenchServer> StartToolAsync(IEnumerable<string> arguments, int grpc, int http) =>
        StartAsync(new ServerProcess([Path.Combine(AppContext.BaseDirectory, "engine-bench.dll"), .. arguments],
            $"http://127.0.0.1:{http}/healthz", ("DOTNET_GCDynamicAdaptationMode", "0")), grpc, null);

    private static async Task<BenchServer> StartAsync(ServerProcess process, int grpc, string? directory)
    {
        await process.StartAsync();
        return new BenchServer(process, grpc, directory);
    }

    /// <summary>SIGTERM and a start on the same data and ports: a graceful restart, after which no customer is active.</summary>
    public async Task RestartAsync()
    {
        await _process.TerminateAsync();
        await _process.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        if (_traces is not null)
        {
            await _traces.DisposeAsync();
        }
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
}
