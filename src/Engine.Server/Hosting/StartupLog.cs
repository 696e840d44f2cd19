using Engine.Grains;

namespace Engine.Server.Hosting;

/// <summary>
/// The line a start writes before anything else: which build runs and how it is set up, so a log read later says what
/// wrote it and where its data and ports were.
/// </summary>
public static partial class StartupLog
{
    public static void Write(IServiceProvider services, EngineOptions options, bool kubernetes) =>
        LogStarting(services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StartupLog).FullName!),
            Engine.Grains.EngineMetrics.Version, ConfigWords.Of(options.Clock), ConfigWords.Of(options.Storage),
            // Postgres keeps everything in the database: no data directory is read or written.
            options.Storage == StorageKind.Sqlite ? Path.GetFullPath(options.DataDirectory) : "n/a",
            options.GrpcPort, options.HttpPort, options.SiloPort, options.GatewayPort, kubernetes ? "on" : "off");

    [LoggerMessage(Level = LogLevel.Information, Message = "Engine {Version} starting: {Clock} clock, {Storage} storage, data directory {DataDirectory}, "
        + "gRPC port {GrpcPort}, HTTP port {HttpPort}, silo port {SiloPort}, gateway port {GatewayPort}, Kubernetes hosting {KubernetesHosting}")]
    private static partial void LogStarting(ILogger logger, string version, string clock, string storage, string dataDirectory,
        int grpcPort, int httpPort, int siloPort, int gatewayPort, string kubernetesHosting);
}
