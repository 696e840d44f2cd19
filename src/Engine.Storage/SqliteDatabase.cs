using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Engine.Storage;

/// <summary>
/// Paths and connections of the embedded SQLite store: one file for Orleans grain state, one for Engine's logs, so
/// checkpoint writes never queue behind ingest commits (SQLite has one writer per file).
/// </summary>
public sealed class SqliteDatabase : IEngineDatabase
{
    /// <summary>The ADO.NET invariant Orleans uses for SQLite; Microsoft.Data.Sqlite serves it.</summary>
    public const string Invariant = "System.Data.SQLite";

    public SqliteDatabase(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        DataDirectory = Path.GetFullPath(dataDirectory);
        OrleansConnectionString = Build(Path.Combine(DataDirectory, "orleans.db"));
        LogConnectionString = Build(Path.Combine(DataDirectory, "log.db"));
    }

    public string DataDirectory { get; }

    public string Location => $"data directory {DataDirectory}";
    public string OrleansConnectionString { get; }
    public string LogConnectionString { get; }

    /// <summary>Lets Orleans' ADO.NET providers find Microsoft.Data.Sqlite under the SQLite invariant.</summary>
    public static void RegisterProviderFactory()
    {
        if (!DbProviderFactories.TryGetFactory(Invariant, out _))
        {
            DbProviderFactories.RegisterFactory(Invariant, SqliteFactory.Instance);
        }
    }

    /// <summary>Applies the embedded scripts not yet recorded in schema_version to both files. Safe on every start.</summary>
    public void Migrate()
    {
        var scripts = SqlScripts.For("sqlite");
        using (var c = Open(OrleansConnectionString))
        {
            Apply(c, scripts.Where(s => s.Name.Contains("orleans", StringComparison.Ordinal)));
        }
        using (var c = Open(LogConnectionString))
        {
            Apply(c, scripts.Where(s => !s.Name.Contains("orleans", StringComparison.Ordinal)));
        }
    }

    public IReadOnlyDictionary<string, long> ReadSettings()
    {
        var settings = new Dictionary<string, long>(StringComparer.Ordinal);
        var path = Path.Combine(DataDirectory, "log.db");
        if (!File.Exists(path))
        {
            return settings;
        }
        // Read-only, not pooled and with no pragmas: reading must change nothing, not even fold the WAL back into the file.
        // With no WAL file (a clean stop) the file is the whole store and is read as immutable, so not even an empty WAL
        // and shared-memory file are created; with one (a crash) its content counts, and a reader only marks the index.
        var source = File.Exists(path + "-wal") ? path : new Uri(path).AbsoluteUri + "?immutable=1";
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'engine_meta'";
        if ((long)cmd.ExecuteScalar()! == 0)
        {
            return settings;
        }
        cmd.CommandText = "SELECT key, value FROM engine_meta WHERE substr(key, 1, length($p)) = $p";
        cmd.Parameters.AddWithValue("$p", StoreSettingKeys.Prefix);
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            settings[r.GetString(0)[StoreSettingKeys.Prefix.Length..]] = r.GetInt64(1);
        }
        return settings;
    }

    public void RecordSettings(IReadOnlyDictionary<string, long> settings)
    {
        using var c = Open(LogConnectionString);
        using var tx = c.BeginTransaction();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO engine_meta (key, value) VALUES ($k, $v) ON CONFLICT (key) DO NOTHING";
        foreach (var (name, value) in settings)
        {
            cmd.Parameters.Clear();
            cmd.Parameters.AddWithValue("$k", StoreSettingKeys.Prefix + name);
            cmd.Parameters.AddWithValue("$v", value);
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>Each file with its write-ahead log: what the store takes on disk now.</summary>
    public Task<IReadOnlyDictionary<string, long>> StorageBytesAsync(CancellationToken ct = default)
    {
        long Size(string file) => new[] { file, file + "-wal" }.Select(f => new FileInfo(Path.Combine(DataDirectory, f))).Where(f => f.Exists).Sum(f => f.Length);
        return Task.FromResult<IReadOnlyDictionary<string, long>>(new Dictionary<string, long> { ["log"] = Size("log.db"), ["orleans"] = Size("orleans.db") });
    }

    /// <summary>Opens a connection with WAL (readers never block the writer) and FULL sync (a commit survives power loss).</summary>
    public static SqliteConnection Open(string connectionString)
    {
        var c = new SqliteConnection(connectionString);
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;";
        cmd.ExecuteNonQuery();
        return c;
    }

    private static string Build(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        Pooling = true,
        DefaultTimeout = 30,
    }.ToString();

    private static void Apply(SqliteConnection c, IEnumerable<(string Name, string Text)> scripts)
    {
        using (var create = c.CreateCommand())
        {
            create.CommandText = "CREATE TABLE IF NOT EXISTS schema_version (script TEXT PRIMARY KEY, applied_at TEXT NOT NULL)";
            create.ExecuteNonQuery();
        }
        var applied = new HashSet<string>(StringComparer.Ordinal);
        using (var read = c.CreateCommand())
        {
            read.CommandText = "SELECT script FROM schema_version";
            using var r = read.ExecuteReader();
            while (r.Read())
            {
                applied.Add(r.GetString(0));
            }
        }
        foreach (var (name, text) in scripts)
        {
            // Each script runs once per database; the query text of 001 is re-applied anyway (INSERT OR REPLACE) so a
            // newer build's queries replace an older one's.
            if (applied.Contains(name) && !name.Contains("orleans", StringComparison.Ordinal))
            {
                continue;
            }
            using var tx = c.BeginTransaction();
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = text;
            cmd.ExecuteNonQuery();
            cmd.CommandText = "INSERT OR IGNORE INTO schema_version (script, applied_at) VALUES ($n, strftime('%Y-%m-%dT%H:%M:%fZ','now'))";
            cmd.Parameters.AddWithValue("$n", name);
            cmd.ExecuteNonQuery();
            tx.Commit();
        }
    }
}
