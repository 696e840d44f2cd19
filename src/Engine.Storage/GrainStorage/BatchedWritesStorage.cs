using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Npgsql;
using NpgsqlTypes;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Engine.Storage;

/// <summary>
/// Grain-state writes to PostgreSQL in batches: the writes that queue up while one batch is in flight go together in
/// one round trip and one commit. A retrain seals about one checkpoint per active customer, and Orleans' provider sends
/// each as its own statement and commit: on this 2-core machine PostgreSQL takes this upsert at 9,600/s parsed each
/// time, 25,800/s prepared and 64,700/s pipelined 50 to a commit (pgbench, 20 clients), and ingest ran at half its rate
/// while a retrain's seals went one by one.
/// <para>
/// The contract is the provider's: the same WriteToStorageKey query from OrleansQuery, the same row key and hashes
/// (<see cref="RowKey"/>) and the same version check, so either side reads what the other wrote. Reads and clears go
/// to the provider unchanged. A batch is one implicit transaction: if it fails, none of its writes is applied; if the
/// server refused it (one bad or deadlocked statement), each write is tried again alone, so only the bad one fails.
/// </para>
/// </summary>
public sealed partial class BatchedWritesStorage : IGrainStorage
{
    /// <summary>Writes per round trip: enough to amortise the round trip and commit, small enough to stay a few ms.</summary>
    public const int MaxBatch = 128;

    /// <summary>Batches in flight at once; their connections come from the provider's pool, so the silo's total holds.</summary>
    private const int Writers = 4;

    private readonly IGrainStorage _inner;
    private readonly string _connectionString;
    private readonly IGrainStorageSerializer _serializer;
    private readonly string _serviceId;
    private readonly ILogger _logger;
    private readonly Channel<PendingWrite> _queue = Channel.CreateUnbounded<PendingWrite>();
    // Read on first use and kept once read: a failed read (the database not reachable yet) is tried again next batch.
    private string? _query;

    public BatchedWritesStorage(IGrainStorage inner, string connectionString, IGrainStorageSerializer serializer, string serviceId,
        ILogger<BatchedWritesStorage> logger)
    {
        (_inner, _connectionString, _serializer, _serviceId, _logger) = (inner, connectionString, serializer, serviceId, logger);
        for (var i = 0; i < Writers; i++)
        {
            _ = Task.Run(WriteLoopAsync);
        }
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        _inner.ReadStateAsync(stateName, grainId, grainState);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        _inner.ClearStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (stateName.Contains('`'))
        {
            // A generic state type's name, which the provider rewrites first; none of Engine's grains has one.
            await _inner.WriteStateAsync(stateName, grainId, grainState);
            return;
        }
        int? version = string.IsNullOrWhiteSpace(grainState.ETag) ? null : int.Parse(grainState.ETag, CultureInfo.InvariantCulture);
        var write = new PendingWrite(RowKey.Of(stateName, grainId), version, _serializer.Serialize(grainState.State).ToArray());
        _queue.Writer.TryWrite(write);
        var stored = await write.Done.Task;
        if (stored is not { } newVersion || newVersion == version)
        {
            // The provider's check: no row written means another writer's version is in storage.
            throw new InconsistentStateException(
                $"Version conflict (WriteState): ServiceId={_serviceId} GrainType={stateName} GrainId={grainId} ETag={grainState.ETag}.");
        }
        grainState.ETag = newVersion.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<PendingWrite>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var write))
            {
                batch.Add(write);
            }
            if (batch.Count == 0)
            {
                continue;
            }
            try
            {
                await WriteAndAnswerAsync(batch);
            }
            catch (PostgresException e) when (batch.Count > 1)
            {
                // The server rolled the whole batch back: no write in it was applied, so each can go again on its own.
                LogBatchRefused(e, batch.Count);
                foreach (var write in batch)
                {
                    await WriteAloneAsync(write);
                }
            }
            catch (Exception e)
            {
                LogBatchFailed(e, batch.Count);
                foreach (var write in batch)
                {
                    write.Done.TrySetException(e);
                }
            }
        }
    }

    private async Task WriteAndAnswerAsync(List<PendingWrite> batch)
    {
        var versions = await WriteAsync(batch);
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Done.TrySetResult(versions[i]);
        }
    }

    private async Task WriteAloneAsync(PendingWrite write)
    {
        try
        {
            await WriteAndAnswerAsync([write]);
        }
        catch (Exception e)
        {
            write.Done.TrySetException(e);
        }
    }

    /// <summary>One round trip, one transaction; the new version of each row, or null where the version check failed.</summary>
    private async Task<int?[]> WriteAsync(List<PendingWrite> batch)
    {
        var query = _query ??= await ReadQueryAsync();
        // Rows in one order, so two batches that share rows (two activations of a grain during a membership change)
        // lock them in the same order rather than deadlock.
        var ordered = batch.Select((write, index) => (write, index))
            .OrderBy(w => w.write.Key.IdHash).ThenBy(w => w.write.Key.TypeHash).ThenBy(w => w.write.Key.N0).ThenBy(w => w.write.Key.N1)
            .ThenBy(w => w.write.Key.Type, StringComparer.Ordinal).ThenBy(w => w.write.Key.Extension, StringComparer.Ordinal).ToArray();
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlBatch(connection);
        foreach (var (write, _) in ordered)
        {
            var row = new NpgsqlBatchCommand(query);
            var p = row.Parameters;
            p.Add(new NpgsqlParameter("GrainIdHash", NpgsqlDbType.Integer) { Value = write.Key.IdHash });
            p.Add(new NpgsqlParameter("GrainIdN0", NpgsqlDbType.Bigint) { Value = write.Key.N0 });
            p.Add(new NpgsqlParameter("GrainIdN1", NpgsqlDbType.Bigint) { Value = write.Key.N1 });
            p.Add(new NpgsqlParameter("GrainTypeHash", NpgsqlDbType.Integer) { Value = write.Key.TypeHash });
            p.Add(new NpgsqlParameter("GrainTypeString", NpgsqlDbType.Varchar) { Value = write.Key.Type });
            p.Add(new NpgsqlParameter("GrainIdExtensionString", NpgsqlDbType.Varchar) { Value = (object?)write.Key.Extension ?? DBNull.Value });
            p.Add(new NpgsqlParameter("ServiceId", NpgsqlDbType.Varchar) { Value = _serviceId });
            p.Add(new NpgsqlParameter("GrainStateVersion", NpgsqlDbType.Integer) { Value = (object?)write.Version ?? DBNull.Value });
            p.Add(new NpgsqlParameter("PayloadBinary", NpgsqlDbType.Bytea) { Value = write.Payload });
            command.BatchCommands.Add(row);
        }
        var versions = new int?[batch.Count];
        await using (var reader = await command.ExecuteReaderAsync())
        {
            foreach (var (_, index) in ordered)
            {
                versions[index] = await reader.ReadAsync() && !reader.IsDBNull(0) ? reader.GetInt32(0) : null;
                await reader.NextResultAsync();
            }
        }
        // The reader is closed: the batch's implicit transaction has committed.
        return versions;
    }

    private async Task<string> ReadQueryAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT QueryText FROM OrleansQuery WHERE QueryKey = 'WriteToStorageKey'", connection);
        return (string?)await command.ExecuteScalarAsync()
            ?? throw new InvalidOperationException("OrleansQuery has no WriteToStorageKey: the persistence script has not been applied.");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "PostgreSQL refused a batch of {Count} grain-state writes; writing each alone")]
    private partial void LogBatchRefused(Exception error, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "A batch of {Count} grain-state writes failed; each of those writes fails")]
    private partial void LogBatchFailed(Exception error, int count);

    private sealed record PendingWrite(RowKey Key, int? Version, byte[] Payload)
    {
        public TaskCompletionSource<int?> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// A grain's row in OrleansStorage as Orleans' ADO.NET provider keys it (AdoGrainKey, OrleansDefaultHasher): a
    /// Guid or integer key goes in N0/N1 with its extension, any other key is the extension string; the id hash is
    /// the stable hash of the key's bytes reversed, the type hash that of the state name's UTF-8.
    /// </summary>
    public sealed record RowKey(int IdHash, long N0, long N1, int TypeHash, string Type, string? Extension)
    {
        public static RowKey Of(string stateName, GrainId grainId)
        {
            long n0 = 0, n1 = 0;
            string? extension;
            byte[] bytes;
            if (grainId.TryGetGuidKey(out var guid, out extension))
            {
                bytes = guid.ToByteArray();
                (n0, n1) = (BitConverter.ToInt64(bytes, 0), BitConverter.ToInt64(bytes, 8));
            }
            else if (grainId.TryGetIntegerKey(out var integer, out extension))
            {
                n1 = integer;
                bytes = BitConverter.GetBytes(integer);
            }
            else
            {
                extension = grainId.Key.ToString();
                bytes = [];
            }
            bytes = extension is null ? bytes : [.. bytes, .. Encoding.UTF8.GetBytes(extension)];
            if (BitConverter.IsLittleEndian)
            {
                Array.Reverse(bytes);
            }
            var typeHash = (int)StableHash.ComputeHash(Encoding.UTF8.GetBytes(stateName));
            return new RowKey((int)StableHash.ComputeHash(bytes), n0, n1, typeHash, stateName, extension);
        }
    }
}
