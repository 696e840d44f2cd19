using System.Data.Common;
using System.Text.RegularExpressions;
using Npgsql;

namespace Engine.Storage;

/// <summary>
/// The production store: one PostgreSQL database for grain state, membership, reminders and Engine's logs. Every silo
/// applies the embedded scripts at start under an advisory lock, so silos starting together do not race.
/// </summary>
public sealed class PostgresDatabase : IEngineDatabase, IDisposable
{
    /// <summary>The ADO.NET invariant Orleans uses for PostgreSQL.</summary>
    public const string Invariant = "Npgsql";

    private const long MigrationLock = 0x656E67696E65; // "engine"

    public PostgresDatabase(string connectionString)
    {
        ConnectionString = connectionString;
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource { get; }

    public string Location
    {
        get
        {
            var b = new NpgsqlConnectionStringBuilder(ConnectionString);
            return $"PostgreSQL database {b.Database ?? b.Username} on {b.Host}";
        }
    }

    /// <summary>The tables' sizes with their indexes and TOAST (pg_total_relation_size): Orleans' tables are named Orleans*.</summary>
    public async Task<IReadOnlyDictionary<string, long>> StorageBytesAsync(CancellationToken ct = default)
    {
        await using var cmd = DataSource.CreateCommand("""
            SELECT CASE WHEN c.relname LIKE 'orleans%' THEN 'orleans' ELSE 'log' END, SUM(pg_total_relation_size(c.oid))::bigint
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname = current_schema()
            GROUP BY 1
            """);
        var sizes = new Dictionary<string, long> { ["log"] = 0, ["orleans"] = 0 };
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            sizes[r.GetString(0)] = r.GetInt64(1);
        }
        return sizes;
    }

    public IReadOnlyDictionary<string, long> ReadSettings()
    {
        var settings = new Dictionary<string, long>(StringComparer.Ordinal);
        using var c = DataSource.OpenConnection();
        using (var exists = new NpgsqlCommand("SELECT to_regclass('engine_meta') IS NOT NULL", c))
        {
            if (!(bool)exists.ExecuteScalar()!)
            {
                return settings;
            }
        }
        using var cmd = new NpgsqlCommand("SELECT key, value FROM engine_meta WHERE starts_with(key, $1)", c);
        cmd.Parameters.AddWithValue(StoreSettingKeys.Prefix);
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            settings[r.GetString(0)[StoreSettingKeys.Prefix.Length..]] = r.GetInt64(1);
        }
        return settings;
    }

    public void RecordSettings(IReadOnlyDictionary<string, long> settings)
    {
        using var c = DataSource.OpenConnection();
        using var cmd = new NpgsqlCommand("INSERT INTO engine_meta (key, value) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT (key) DO NOTHING", c);
        cmd.Parameters.AddWithValue(settings.Keys.Select(k => StoreSettingKeys.Prefix + k).ToArray());
        cmd.Parameters.AddWithValue(settings.Values.ToArray());
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// The connection string with a bounded pool (Npgsql's default of 100 per pool would exceed max_connections) and
    /// automatic preparation: Orleans' storage and Engine's logs send the same few statements over and over, and a
    /// prepared statement skips PostgreSQL's parse and plan on every call after its second. No reset on close: Npgsql
    /// otherwise sends a connection back to the pool with a reset script (RESET ALL, CLOSE ALL, UNLISTEN, ...) that
    /// PostgreSQL parses and runs before the next statement on it, and Engine and Orleans take a connection per write;
    /// neither leaves session state behind (no SET or LISTEN; the one session-level lock, the migration's, is released
    /// before its connection goes back). A setting the operator put in the connection string wins.
    /// </summary>
    public static string WithPool(string connectionString, int maxPoolSize)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = Math.Max(2, maxPoolSize) };
        // (The builder's ContainsKey is true for every keyword it knows, set or not: look at the string itself.)
        bool Sets(string keyword) => Regex.IsMatch(connectionString, keyword.Replace(" ", @"\s*") + @"\s*=", RegexOptions.IgnoreCase);
        if (!Sets("max auto prepare"))
        {
            builder.MaxAutoPrepare = 32;
            if (!Sets("auto prepare min usages"))
            {
                builder.AutoPrepareMinUsages = 2;
            }
        }
        if (!Sets("no reset on close"))
        {
            builder.NoResetOnClose = true;
        }
        return builder.ConnectionString;
    }

    public static void RegisterProviderFactory()
    {
        if (!DbProviderFactories.TryGetFactory(Invariant, out _))
        {
            DbProviderFactories.RegisterFactory(Invariant, NpgsqlFactory.Instance);
        }
    }

    /// <summary>
    /// Applies the scripts not yet recorded in schema_version; the Orleans query scripts every time (they replace their
    /// query texts, so an upgraded build brings its queries). Idempotent.
    /// </summary>
    public void Migrate()
    {
        using var c = DataSource.OpenConnection();
        Execute(c, "SELECT pg_advisory_lock(" + MigrationLock + ")");
        try
        {
            Execute(c, "CREATE TABLE IF NOT EXISTS schema_version (script text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
            var applied = new HashSet<string>(StringComparer.Ordinal);
            using (var read = new NpgsqlCommand("SELECT script FROM schema_version", c))
            using (var r = read.ExecuteReader())
            {
                while (r.Read())
                {
                    applied.Add(r.GetString(0));
                }
            }
            foreach (var (name, text) in SqlScripts.For("postgres"))
            {
                if (applied.Contains(name) && !name.Contains("orleans", StringComparison.Ordinal))
                {
                    continue;
                }
                using var tx = c.BeginTransaction();
                using (var cmd = new NpgsqlCommand(text, c, tx))
                {
                    cmd.ExecuteNonQuery();
                }
                using (var record = new NpgsqlCommand("INSERT INTO schema_version (script) VALUES ($1) ON CONFLICT DO NOTHING", c, tx))
                {
                    record.Parameters.AddWithValue(name);
                    record.ExecuteNonQuery();
                }
                tx.Commit();
            }
        }
        finally
        {
            Execute(c, "SELECT pg_advisory_unlock(" + MigrationLock + ")");
        }
    }

    public void Dispose() => DataSource.Dispose();

    private static void Execute(NpgsqlConnection c, string sql)
    {
        using var cmd = new NpgsqlCommand(sql, c);
        cmd.ExecuteNonQuery();
    }
}
