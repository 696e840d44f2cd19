using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Orleans.Serialization.Serializers;
using Orleans.Storage;
using SQLitePCL;

namespace Engine.Storage;

/// <summary>
/// <see cref="BatchedWritesStorage"/> for SQLite: one writer connection, and a batch is one transaction over one
/// prepared statement. Through the provider every write was a transaction of its own with its two statements prepared
/// again, and a wave of checkpoints slowed ingest to a fraction of its rate (deploy/bench/HISTORY.md, "Behind the code").
/// <para>
/// SQLite admits one writer: a second gets SQLITE_BUSY, and Microsoft.Data.Sqlite retries after sleeping 150 ms on a
/// thread-pool thread. So batches go one at a time, and a clear (through the provider) waits for the batch in flight.
/// </para>
/// <para>
/// Reads run the provider's ReadFromStorageKey query too, prepared once per reader connection and answered as the
/// provider answers (<see cref="ReadStateAsync{T}"/>); in WAL mode they never wait for the writer. The provider prepared
/// its query again for every read, most of a cold activation's state read (deploy/bench/HISTORY.md, "Behind the code").
/// </para>
/// </summary>
public sealed partial class SqliteBatchedWrites(IGrainStorage inner, string connectionString, IGrainStorageSerializer serializer, string serviceId,
    IActivatorProvider activators, ILogger<SqliteBatchedWrites> logger) : BatchedWritesStorage(inner, serializer, serviceId, logger, writers: 1, MaxBatch), IDisposable
{
    /// <summary>Writes per transaction.</summary>
    public const int MaxBatch = 256;

    private readonly SemaphoreSlim _writer = new(1, 1);
    private SqliteConnection? _connection;
    private SqliteCommand? _write;
    private bool _disposed;
    // Reads on connections of their own, the provider's read query prepared on each (fetched with the first read).
    private readonly SqliteReaderPool _readers = new(connectionString);
    private string? _readQuery;

    /// <summary>
    /// The provider's read, answered alike: no row (never written, or cleared) is a new state with no ETag; a row is
    /// its version as ETag, and its payload with RecordExists true, or, where a clear before 012-orleans-clear-deletes.sql
    /// left none, a new state with RecordExists false.
    /// </summary>
    public override Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (stateName.Contains('`') || _readers.Disposed)
        {
            // A generic state type's name, which the provider rewrites first (as for writes); or a late activation while
            // the silo stops, after this storage's connections are closed.
            return base.ReadStateAsync(stateName, grainId, grainState);
        }
        var key = RowKey.Of(stateName, grainId);
        (byte[]? Payload, int? Version) row;
        try
        {
            row = _readers.With(reader =>
            {
                // On the reader's own statement: a command's binder and reader allocated more per activation than the row.
                var read = reader.Statement(_readQuery ??= ProviderQuery(reader.Connection, "ReadFromStorageKey"));
                try
                {
                    BindKey(reader, read, key);
                    return reader.Step(read)
                        ? (SqliteReader.IsNull(read, 0) ? null : raw.sqlite3_column_blob(read, 0).ToArray(),
                            SqliteReader.IsNull(read, 1) ? null : raw.sqlite3_column_int(read, 1))
                        : ((byte[]?)null, (int?)null);
                }
                finally
                {
                    SqliteReader.Reset(read);
                }
            });
        }
        catch (Exception ex)
        {
            LogReadFailed(logger, ex, stateName, grainId);
            throw;
        }
        grainState.State = row.Payload is null ? activators.GetActivator<T>().Create() : Serializer.Deserialize<T>(new BinaryData(row.Payload));
        grainState.ETag = row.Version?.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = row.Payload is not null;
        return Task.CompletedTask;
    }

    /// <summary>
    /// Binds a row's key and the service id as the provider's queries name them, setting parameters the statement
    /// already has and adding the others.
    /// </summary>
    private void BindKey(SqliteParameterCollection p, RowKey key)
    {
        var values = KeyValues(key);
        for (var i = 0; i < KeyParameters.Length; i++)
        {
            Bind(p, KeyParameters[i], values[i]);
        }
    }

    /// <summary>
    /// <see cref="BindKey(SqliteParameterCollection, RowKey)"/> on a reader's own statement, each value bound as its type
    /// (no box per value) at the index the query gives its name (0 for a name it lacks: SQLite refuses that binding and
    /// nothing is bound, as the command skips a parameter the statement does not have).
    /// </summary>
    private void BindKey(SqliteReader reader, sqlite3_stmt read, RowKey key)
    {
        int At(int parameter) => reader.ParameterIndex(read, KeyParameters[parameter]);
        raw.sqlite3_bind_int(read, At(0), key.IdHash);
        raw.sqlite3_bind_int64(read, At(1), key.N0);
        raw.sqlite3_bind_int64(read, At(2), key.N1);
        raw.sqlite3_bind_int(read, At(3), key.TypeHash);
        reader.BindText(read, At(4), key.Type);
        reader.BindText(read, At(5), key.Extension);
        reader.BindText(read, At(6), ServiceId);
    }

    /// <summary>The key's parameters as the provider's queries name them, in the order <see cref="KeyValues"/> gives their values.</summary>
    private static readonly string[] KeyParameters =
        ["@GrainIdHash", "@GrainIdN0", "@GrainIdN1", "@GrainTypeHash", "@GrainTypeString", "@GrainIdExtensionString", "@ServiceId"];

    private object?[] KeyValues(RowKey key) => [key.IdHash, key.N0, key.N1, key.TypeHash, key.Type, key.Extension, ServiceId];

    private static void Bind(SqliteParameterCollection p, string name, object? value)
    {
        if (p.Contains(name))
        {
            p[name].Value = value ?? DBNull.Value;
        }
        else
        {
            p.AddWithValue(name, value ?? DBNull.Value);
        }
    }

    /// <summary>The provider's query under <paramref name="key"/> in OrleansQuery, without the PRAGMA it may start with.</summary>
    private static string ProviderQuery(SqliteConnection c, string key)
    {
        using var read = c.CreateCommand();
        read.CommandText = "SELECT QueryText FROM OrleansQuery WHERE QueryKey = $key";
        read.Parameters.AddWithValue("$key", key);
        var query = read.ExecuteScalar() as string
            ?? throw new InvalidOperationException($"OrleansQuery has no {key}: the persistence script has not been applied.");
        return Pragma().Replace(query, "").Trim();
    }

    public override async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        await _writer.WaitAsync();
        try
        {
            await base.ClearStateAsync(stateName, grainId, grainState);
        }
        finally
        {
            _writer.Release();
        }
    }

    protected override bool RefusedBatch(Exception error) => error is SqliteException;

    protected override async Task<int?[]> WriteAsync(IReadOnlyList<PendingWrite> batch)
    {
        await _writer.WaitAsync();
        try
        {
            return Write(batch);
        }
        finally
        {
            _writer.Release();
        }
    }

    private int?[] Write(IReadOnlyList<PendingWrite> batch)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var write = _write ?? Open();
        try
        {
            using var tx = _connection!.BeginTransaction();
            write.Transaction = tx;
            var p = write.Parameters;
            var versions = new int?[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                var w = batch[i];
                BindKey(p, w.Key);
                p["@GrainStateVersion"].Value = (object?)w.Version ?? DBNull.Value;
                p["@PayloadBinary"].Value = w.Payload;
                versions[i] = write.ExecuteScalar() is { } v and not DBNull ? Convert.ToInt32(v) : null;
            }
            tx.Commit();
            return versions;
        }
        catch (Exception e) when (e is not SqliteException)
        {
            // Not the database's answer (the connection itself may be gone, or still in a transaction whose rollback
            // failed): the next batch opens a new one.
            try
            {
                Close();
            }
            catch (Exception closing)
            {
                throw new AggregateException(e, closing);
            }
            throw;
        }
    }

    private SqliteCommand Open()
    {
        var c = SqliteDatabase.Open(connectionString);
        try
        {
            var query = ProviderQuery(c, "WriteToStorageKey");
            // The query sets the provider's connection to NORMAL sync first (a checkpoint is rebuilt from the log if the
            // last ones are lost); this connection is set so once, and the statement left is prepared once. The grain
            // keys come in random order, so, as for the event log's writer (SqliteEventLog.OpenWriter), a page cache
            // that holds the key index and a WAL checkpoint every 64 MB rather than every 4 MB.
            using (var pragma = c.CreateCommand())
            {
                pragma.CommandText = "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384;";
                pragma.ExecuteNonQuery();
            }
            var write = c.CreateCommand();
            write.CommandText = query;
            foreach (var name in (string[])["@GrainIdHash", "@GrainIdN0", "@GrainIdN1", "@GrainTypeHash", "@GrainTypeString",
                "@GrainIdExtensionString", "@ServiceId", "@GrainStateVersion", "@PayloadBinary"])
            {
                write.Parameters.Add(new SqliteParameter(name, null));
            }
            write.Prepare();
            (_connection, _write) = (c, write);
            return write;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Drops the writer connection (the next batch opens another). The fields are cleared first: a connection whose
    /// rollback keeps failing may throw again on disposal, and must not be used again either way.
    /// </summary>
    private void Close()
    {
        var (write, connection) = (_write, _connection);
        (_write, _connection) = (null, null);
        try
        {
            write?.Dispose();
        }
        finally
        {
            connection?.Dispose();
        }
    }

    /// <summary>
    /// Closes the writer connection. The silo checkpoints its grains while it stops, before the container disposes
    /// this; a write after that fails (ObjectDisposedException), and the customer replays from its last checkpoint.
    /// </summary>
    public void Dispose()
    {
        _writer.Wait();
        try
        {
            _disposed = true;
            Close();
            _readers.Dispose();
        }
        finally
        {
            _writer.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Reading grain state {StateName} of {GrainId} failed")]
    private static partial void LogReadFailed(ILogger logger, Exception exception, string stateName, GrainId grainId);

    [GeneratedRegex(@"^\s*PRAGMA[^;]*;", RegexOptions.IgnoreCase | RegexOptions.Multiline)]
    private static partial Regex Pragma();
}
