using Engine.Grains;
using Engine.Storage;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;

namespace Engine.Server.Hosting;

public static class SiloBuilderExtensions
{
    /// <summary>Clustering, grain storage and Engine's logs for the configured storage.</summary>
    public static ISiloBuilder AddEngineSilo(this ISiloBuilder silo, EngineOptions options)
    {
        silo.AddEngineStorage(options);
        if (options.Storage.Equals("sqlite", StringComparison.OrdinalIgnoreCase))
        {
            // Embedded mode is one silo on this machine.
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, serviceId: "engine", clusterId: "engine");
        }
        return silo;
    }

    /// <summary>Grain storage and Engine's logs, without clustering (tests bring their own).</summary>
    public static ISiloBuilder AddEngineStorage(this ISiloBuilder silo, EngineOptions options)
    {
        switch (options.Storage.ToLowerInvariant())
        {
            case "sqlite":
                AddSqlite(silo, options);
                break;
            default:
                throw new OptionsValidationException(EngineOptions.Section, typeof(EngineOptions),
                    [$"Engine:Storage must be 'sqlite' or 'postgres', not '{options.Storage}'."]);
        }
        // Binary grain state: smaller and faster than the provider's default JSON.
        silo.Services.AddOptions<AdoNetGrainStorageOptions>(StorageNames.Engine)
            .Configure<IServiceProvider>((o, sp) => o.GrainStorageSerializer = new OrleansGrainStorageSerializer(sp.GetRequiredService<Orleans.Serialization.Serializer>()));
        return silo;
    }

    /// <summary>Embedded mode: two SQLite files under Engine:DataDirectory.</summary>
    private static void AddSqlite(ISiloBuilder silo, EngineOptions options)
    {
        var database = new SqliteDatabase(options.DataDirectory);
        SqliteDatabase.RegisterProviderFactory();
        database.Migrate();
        silo.AddAdoNetGrainStorage(StorageNames.Engine, o =>
        {
            o.Invariant = SqliteDatabase.Invariant;
            o.ConnectionString = database.OrleansConnectionString;
        });
        // The embedded mode keeps reminders in memory: the schedule is registered again whenever the coordinator
        // activates, which every start does.
        silo.UseInMemoryReminderService();
        silo.Services.AddSingleton(database);
        silo.Services.AddSingleton<TransitionSignal>();
        silo.Services.AddSingleton<IEventLog, SqliteEventLog>();
    }
}
