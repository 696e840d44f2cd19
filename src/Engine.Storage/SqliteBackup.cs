using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Engine.Storage;

/// <summary>
/// What a backup wrote (backup.json, written last): the files, the copied log's head, and the checkpoint a restored server
/// replays from. <c>engine admin restore</c> reads it (src/Engine.Cli/AdminCommands.cs).
/// </summary>
public sealed record BackupManifest(DateTime TakenAt, long LogPosition, long CheckpointPosition, IReadOnlyList<BackupManifest.File> Files)
{
    public const string FileName = "backup.json";

    public sealed record File(string Name, long Bytes);

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

}

/// <summary>
/// An online backup of the embedded store: both SQLite files copied with SQLite's backup API while the server runs.
/// <para>
/// The rule that makes the copy recoverable: it must look like a crash of the running server, after which recovery
/// (replay every customer with events after the checkpoint position) brings grain state and logs together. So:
/// </para>
/// <list type="number">
/// <item>The checkpoint position is read first. A checkpoint tells every shard its position before it records it, so
/// every shard state copied afterwards reflects at least this position.</item>
/// <item>Grain state (orleans.db) is snapshotted before the log (log.db), each in one read transaction opened back to
/// back and copied from it. Whatever grain state holds was logged before it was written, so the log copy has every
/// event a customer checkpoint covers, and the events it has beyond them (every event acknowledged before the backup
/// began among them) are replayed at start like a crash's committed-but-unapplied batches. The other order would copy
/// customers holding events their log lacks: counted again if the client retried them, and new appends of the restored
/// server would take positions those customers believe they applied.</item>
/// <item>In the log copy the checkpoint is set back to the position read in step 1 (a checkpoint taken between the two
/// snapshots would otherwise skip rows the copied shards lack), and the running silos' applied positions and applied
/// times are removed: they name silos that never run on the copy, and would hold its checkpoint where it is forever
/// (and, in event time, date its rollouts no later than the copied silos' last figures).</item>
/// </list>
/// A model published in the instant between the two snapshots (microseconds apart) could leave log rows stamped with
/// a model the copied archive lacks; those replay under the current model, as rows logged before model stamps do.
/// </summary>
public static class SqliteBackup
{
    public static readonly string[] StoreFiles = ["orleans.db", "log.db"];

    /// <summary>
    /// Copies <paramref name="database"/> into <paramref name="directory"/>; refuses a directory that holds a store. In the
    /// copy, the meta keys under <paramref name="siloPrefixes"/> (what each running silo records about itself) are removed.
    /// </summary>
    public static BackupManifest Take(SqliteDatabase database, string directory, string checkpointKey, IReadOnlyList<string> siloPrefixes)
    {
        Directory.CreateDirectory(directory);
        if (HeldStore(directory) is { } held)
        {
            throw new InvalidOperationException($"{directory} already holds {held}; back up into an empty or new directory");
        }
        var checkpoint = ReadMeta(database.LogConnectionString, checkpointKey);
        var orleansCopy = Path.Combine(directory, "orleans.db");
        var logCopy = Path.Combine(directory, "log.db");
        using (var orleans = SqliteDatabase.Open(database.OrleansConnectionString))
        using (var log = SqliteDatabase.Open(database.LogConnectionString))
        {
            using var orleansTx = BeginSnapshot(orleans);
            using var logTx = BeginSnapshot(log);
            Copy(orleans, orleansCopy);
            Copy(log, logCopy);
        }
        var takenAt = DateTime.UtcNow;
        long head;
        using (var copy = OpenFile(logCopy))
        {
            using var cmd = copy.CreateCommand();
            cmd.CommandText = "UPDATE engine_meta SET value = $c WHERE key = $k";
            cmd.Parameters.AddWithValue("$c", checkpoint);
            cmd.Parameters.AddWithValue("$k", checkpointKey);
            cmd.ExecuteNonQuery();
            foreach (var prefix in siloPrefixes)
            {
                cmd.CommandText = "DELETE FROM engine_meta WHERE substr(key, 1, length($p)) = $p";
                cmd.Parameters.Clear();
                cmd.Parameters.AddWithValue("$p", prefix);
                cmd.ExecuteNonQuery();
            }
            cmd.CommandText = "SELECT COALESCE(MAX(seq), 0) FROM ingest_log";
            head = (long)cmd.ExecuteScalar()!;
        }
        var manifest = new BackupManifest(takenAt, head, checkpoint,
            StoreFiles.Select(f => new BackupManifest.File(f, new FileInfo(Path.Combine(directory, f)).Length)).ToList());
        // Written last: a directory without it is an interrupted backup, which restore refuses.
        File.WriteAllText(Path.Combine(directory, BackupManifest.FileName), manifest.ToJson());
        return manifest;
    }

    /// <summary>The first store file (or its WAL) in the directory; null when there is none.</summary>
    private static string? HeldStore(string directory) =>
        StoreFiles.SelectMany(f => new[] { f, f + "-wal" }).FirstOrDefault(f => File.Exists(Path.Combine(directory, f)));

    /// <summary>
    /// A read transaction that has read something, so its snapshot is fixed now: writers go on (WAL) and the backup
    /// copies this snapshot, however long it takes.
    /// </summary>
    private static SqliteTransaction BeginSnapshot(SqliteConnection c)
    {
        var tx = c.BeginTransaction(deferred: true);
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT COUNT(*) FROM sqlite_master";
        cmd.ExecuteScalar();
        return tx;
    }

    private static void Copy(SqliteConnection source, string path)
    {
        using var destination = OpenFile(path);
        source.BackupDatabase(destination);
    }

    private static long ReadMeta(string connectionString, string key)
    {
        using var c = SqliteDatabase.Open(connectionString);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT value FROM engine_meta WHERE key = $k";
        cmd.Parameters.AddWithValue("$k", key);
        return cmd.ExecuteScalar() is long value ? value : 0;
    }

    /// <summary>Not pooled: closing it closes the file, so the copy is complete (its WAL folded back) when this returns.</summary>
    private static SqliteConnection OpenFile(string path)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        c.Open();
        return c;
    }
}
