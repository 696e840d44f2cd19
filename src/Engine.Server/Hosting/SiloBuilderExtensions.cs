using System.Data.Common;
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
        if (options.Storage == StorageKind.Sqlite)
        {
            // Embedded mode is one silo on this machine.
            silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, serviceId: "engine", clusterId: "engine");
            return silo;
        }
        if (options.UsesKubernetesHosting(Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST")))
        {
            // In a pod: the silo is named after its pod (POD_NAME, POD_NAMESPACE from the downward API), and a silo whose
            // pod is gone is declared dead without waiting for missed probes. Added before Engine's cluster options so
            // Engine:ClusterId and the service id "engine" (grain state is keyed by it) win over ORLEANS_CLUSTER_ID and
            // ORLEANS_SERVICE_ID; membership stays in PostgreSQL.
            silo.UseKubernetesHosting();
        }
        // A real cluster: membership in PostgreSQL, every silo on its own ports, advertising the address others reach it on.
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = "engine";
        });
        silo.ConfigureEndpoints(System.Net.IPAddress.Parse(options.AdvertisedAddress), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: true);
        // Declare a killed silo dead in about six seconds rather than Orleans' default of about fifteen: its customers
        // are unreachable until then.
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 3;
        });
        silo.UseAdoNetClustering(o =>
        {
            o.Invariant = PostgresDatabase.Invariant;
            o.ConnectionString = PostgresDatabase.WithPool(options.ConnectionString!, 4);
        });
        return silo;
    }

    /// <summary>Grain storage and Engine's logs, without clustering (tests bring their own).</summary>
    public static ISiloBuilder AddEngineStorage(this ISiloBuilder silo, EngineOptions options)
    {
        if (options.Storage == StorageKind.Postgres)
        {
            AddPostgres(silo, options);
        }
        else
        {
            AddSqlite(silo, options);
        }
        // Each store's narrow interface is the one log (a test may wrap IEventLog; the narrow ones follow it).
        silo.Services.AddSingleton<IIngestLog>(sp => sp.GetRequiredService<IEventLog>());
        silo.Services.AddSingleton<ITransitionLog>(sp => sp.GetRequiredService<IEventLog>());
        silo.Services.AddSingleton<IWebhookStore>(sp => sp.GetRequiredService<IEventLog>());
        silo.Services.AddSingleton<IMetaStore>(sp => sp.GetRequiredService<IEventLog>());
        // The schema and the settings check run as the silo's first start-up step, not while it is being configured.
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, StoreStartup>();
        return silo;
    }

    /// <summary>The embedded mode's grain storage: the SQLite provider behind the batched writer.</summary>
    public static SqliteBatchedWrites SqliteGrainStorage(IServiceProvider sp, string connectionString) => new(
        sp.GetRequiredKeyedService<IGrainStorage>(StorageNames.EngineSqlite), connectionString,
        GrainStorageSerializer(sp, StorageNames.EngineSqlite), ServiceId(sp), sp.GetRequiredService<Orleans.Serialization.Serializers.IActivatorProvider>(),
        sp.GetRequiredService<ILogger<SqliteBatchedWrites>>());

    private static IGrainStorageSerializer GrainStorageSerializer(IServiceProvider sp, string provider) =>
        sp.GetRequiredService<IOptionsMonitor<AdoNetGrainStorageOptions>>().Get(provider).GrainStorageSerializer;

    private static string ServiceId(IServiceProvider sp) => sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId;

    /// <summary>Orleans' ADO.NET grain storage under <paramref name="name"/>, with binary state.</summary>
    private static void AddGrainStorage(ISiloBuilder silo, string name, string invariant, string? connectionString, DbDataSource? dataSource = null)
    {
        silo.AddAdoNetGrainStorage(name, o =>
        {
            o.Invariant = invariant;
            o.ConnectionString = connectionString;
            o.DataSource = dataSource;
        });
        // Binary grain state: smaller and faster than the provider's default JSON.
        silo.Services.AddOptions<AdoNetGrainStorageOptions>(name)
            .Configure<IServiceProvider>((o, sp) => o.GrainStorageSerializer = new OrleansGrainStorageSerializer(sp.GetRequiredService<Orleans.Serialization.Serializer>()));
    }

    /// <summary>Production: grain state, reminders and Engine's logs in PostgreSQL (schema applied at start).</summary>
    private static void AddPostgres(ISiloBuilder silo, EngineOptions options)
    {
        EngineOptionsValidator.ThrowIfInvalid(options);
        var database = new PostgresDatabase(PostgresDatabase.WithPool(options.ConnectionString!, options.PostgresPoolSize / 3));
        PostgresDatabase.RegisterProviderFactory();
        // Orleans' providers share one pool (same connection string); Engine's logs have their own, so a burst of grain
        // activations cannot starve ingest commits, and the two together stay under the server's max_connections.
        var orleans = PostgresDatabase.WithPool(options.ConnectionString!, options.PostgresPoolSize - options.PostgresPoolSize / 3);
        // The provider itself is registered under another name; grains get it through the batched writer.
        const string provider = StorageNames.EnginePostgres;
        AddGrainStorage(silo, provider, PostgresDatabase.Invariant, orleans);
        silo.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.Engine, (sp, _) => new PostgresBatchedWrites(
            sp.GetRequiredKeyedService<IGrainStorage>(provider), orleans, GrainStorageSerializer(sp, provider), ServiceId(sp),
            sp.GetRequiredService<ILogger<PostgresBatchedWrites>>()));
        silo.UseAdoNetReminderService(o =>
        {
            o.Invariant = PostgresDatabase.Invariant;
            o.ConnectionString = orleans;
        });
        silo.Services.AddSingleton(database);
        silo.Services.AddSingleton<IEngineDatabase>(database);
        silo.Services.AddSingleton<TransitionSignal>();
        silo.Services.AddSingleton<PostgresEventLog>();
        silo.Services.AddSingleton<IEventLog>(sp => sp.GetRequiredService<PostgresEventLog>());
        silo.Services.AddSingleton<IQuarantineStore>(sp => sp.GetRequiredService<PostgresEventLog>());
        silo.Services.AddSingleton<IAuditLog>(sp => sp.GetRequiredService<PostgresEventLog>());
        silo.Services.AddSingleton<ILogRetention>(sp => sp.GetRequiredService<PostgresEventLog>());
        silo.Services.AddSingleton<ICustomerErasure>(sp => sp.GetRequiredService<PostgresEventLog>());
        silo.Services.AddSingleton<ICohortSource>(sp => sp.GetRequiredService<PostgresEventLog>());
    }

    /// <summary>Embedded mode: two SQLite files under Engine:DataDirectory.</summary>
    private static void AddSqlite(ISiloBuilder silo, EngineOptions options)
    {
        var database = new SqliteDatabase(options.DataDirectory);
        SqliteDatabase.RegisterProviderFactory();
        // The provider itself is registered under another name; grains get it through the batched writer.
        const string provider = StorageNames.EngineSqlite;
        AddGrainStorage(silo, provider, SqliteDatabase.Invariant, null, new OrleansSqliteDataSource(database.OrleansConnectionString));
        silo.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.Engine, (sp, _) => SqliteGrainStorage(sp, database.OrleansConnectionString));
        // The embedded mode keeps reminders in memory: the schedule is registered again whenever the coordinator
        // activates, which every start does.
        silo.UseInMemoryReminderService();
        silo.Services.AddSingleton(database);
        silo.Services.AddSingleton<IEngineDatabase>(database);
        silo.Services.AddSingleton<TransitionSignal>();
        silo.Services.AddSingleton<SqliteEventLog>();
        silo.Services.AddSingleton<IEventLog>(sp => sp.GetRequiredService<SqliteEventLog>());
        silo.Services.AddSingleton<IQuarantineStore>(sp => sp.GetRequiredService<SqliteEventLog>());
        silo.Services.AddSingleton<IAuditLog>(sp => sp.GetRequiredService<SqliteEventLog>());
        silo.Services.AddSingleton<ILogRetention>(sp => sp.GetRequiredService<SqliteEventLog>());
        silo.Services.AddSingleton<ICustomerErasure>(sp => sp.GetRequiredService<SqliteEventLog>());
        silo.Services.AddSingleton<ICohortSource>(sp => sp.GetRequiredService<SqliteEventLog>());
    }
}
