using Engine.Grains;
using Engine.Testing;
using Engine.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Bench;

/// <summary>A single silo in this process with the engine's own grains and storage (a throwaway SQLite directory).</summary>
public sealed class LocalSilo : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly string _directory;

    private LocalSilo(IHost host, string directory)
    {
        _host = host;
        _directory = directory;
    }

    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    public IServiceProvider Services => _host.Services;

    public EngineOptions Options => _host.Services.GetRequiredService<IOptions<EngineOptions>>().Value;

    public static async Task<LocalSilo> StartAsync(int shards)
    {
        var directory = Path.Combine(Path.GetTempPath(), "engine-bench", Guid.NewGuid().ToString("N"));
        var options = new EngineOptions
        {
            DataDirectory = directory,
            Shards = shards,
            SiloPort = FreePorts.Next(),
            GatewayPort = FreePorts.Next(),
        };
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<EngineOptions>(o =>
        {
            o.DataDirectory = options.DataDirectory;
            o.Shards = options.Shards;
        });
        builder.Services.Configure<ModelOptions>(o => o.AutoTrainMinCustomers = int.MaxValue);
        builder.UseOrleans(silo => silo.AddEngineSilo(options));
        builder.Services.AddEngineServices();
        var host = builder.Build();
        await host.StartAsync();
        await host.Services.GetRequiredService<IngestPipeline>().Ready;
        return new LocalSilo(host, directory);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
