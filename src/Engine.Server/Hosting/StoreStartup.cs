using Engine.Grains;
using Engine.Storage;
using Microsoft.Extensions.Options;

namespace Engine.Server.Hosting;

/// <summary>
/// The silo's first start-up step: refuse a store written under other settings (before anything is written), then
/// bring its schema up to date and record the settings a new store is written under. Runs in the silo's lifecycle,
/// before membership, grain storage or any grain touches the database.
/// </summary>
public sealed partial class StoreStartup(IEngineDatabase database, IOptions<EngineOptions> options, ILogger<StoreStartup> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(StoreStartup), ServiceLifecycleStage.First, _ => Task.Run(Start));

    private void Start()
    {
        var recorded = database.ReadSettings();
        if (StoreSettings.Conflict(recorded, options.Value, database.Location) is { } conflict)
        {
            throw new StoreSettingsException(conflict);
        }
        database.Migrate();
        database.RecordSettings(StoreSettings.Of(options.Value));
        LogReady(logger, database.Location, ConfigWords.Of(options.Value.Clock), options.Value.Shards);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Store ready: {Location}, {Clock} clock, {Shards} shards")]
    private static partial void LogReady(ILogger logger, string location, string clock, int shards);
}
